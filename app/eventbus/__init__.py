"""Event bus: the outbox relay (outbox → Redis stream), the consumer group and the event schema catalogue."""
