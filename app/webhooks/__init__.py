"""Webhooks: merchants' systems (ERP, WMS, accounting) subscribe to event types and get each matching event
POSTed as its CloudEvents JSON, signed, retried with backoff for a day, every attempt logged.

Where the fan-out happens: the event bus. Events reach Redis through the outbox relay (app.eventbus.relay);
the consumer group `webhooks` (app.eventbus.consumer, run by the worker job `webhooks.fan_out` or by
`daoxiang consume --group webhooks`) turns each event into one message row per matching subscription, in the
transaction that records the event as processed, so a redelivered event adds nothing. The worker job
`webhooks.deliver` then sends due messages (app.webhooks.tasks): the shop's requests never wait on a receiver.
"""
