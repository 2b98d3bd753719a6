"""Operations' view of the shop: `GET /metrics` (Prometheus text format)."""
