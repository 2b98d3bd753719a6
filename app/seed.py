"""`daoxiang seed-demo`: the demo shop. Idempotent: each domain's seeder checks before it adds."""

from __future__ import annotations

import importlib

from app.db import session_scope

# Order matters: later seeders use what earlier ones made.
SEEDERS = [
    "app.users.seed",
    "app.catalog.seed",
    "app.traceability.seed",
]


async def seed_demo() -> None:
    for module in SEEDERS:
        async with session_scope() as session:
            await importlib.import_module(module).seed(session)
