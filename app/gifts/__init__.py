"""Corporate gift boxes (企业定制礼盒, issue 21): a company's custom request with its recipients, the staff's
quote and artwork proof, the order of kind `custom` it becomes when accepted (app.flows.custom_orders), and
its parcels shipped one per recipient."""
