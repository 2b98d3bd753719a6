"""Flash sales (秒杀): a SKU's units at a sale price in a window, with a per-customer limit.

    models.py     flash_sales (the record of what remains) and flash_sale_purchases (who holds what)
    service.py    staff create/cancel, public reads, the purchase rules checkout asks, the release of
                  cancelled orders, the jobs (close ended sales, reconcile the gates)
    gate.py       the Redis gate in front of the database (one Lua script: window, limit, quantity)
    router.py     /api/flash-sales (public) and /api/admin/flash-sales (staff)

Sits above orders (it reads SKUs and moves stock through orders' repository) and below checkout: buying
is an order of kind `flash_sale`, placed by app.checkout (POST /api/flash-sales/{id}/orders lives there).
"""
