"""`daoxiang seed-demo`: the demo shop. Idempotent: each domain's seeder checks before it adds."""

from __future__ import annotations

from app.catalog import seed as catalog_seed
from app.db import session_scope
from app.traceability import seed as traceability_seed
from app.users import seed as users_seed

# Order matters: later seeders use what earlier ones made.
SEEDERS = [users_seed.seed, catalog_seed.seed, traceability_seed.seed]


async def seed_demo() -> None:
    for seed in SEEDERS:
        async with session_scope() as session:
            await seed(session)
