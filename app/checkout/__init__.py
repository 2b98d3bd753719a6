"""Checkout: one pipeline for every kind of order, on one store per database (docs/architecture.md).

    request.py   the request's parser, shared by the route and the fast path (Idempotency-Key, body)
    pipeline.py  the steps, in order, and the order kinds that list them
    stores.py    the store interface and its two implementations (the ORM on SQLite, plain MariaDB)
    service.py   place_order: picks the store chosen at start-up, the idempotency protocol, retries
    router.py    POST /api/orders;  fast_path.py  the same route without FastAPI's machinery

Checkout sits above orders, cart, catalog, traceability and users: it imports them, they never import it.
"""
