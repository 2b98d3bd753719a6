"""Customers, registered over the last year or so."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from app.seed_scale.bulk import Progress, ago, bulk
from app.seed_scale.words import SURNAMES
from app.users.models import User


async def seed_users(
    rng: random.Random, now: datetime, count: int, base: int, progress: Progress
) -> list[int]:
    if count <= 0:
        return []
    # Nobody logs in as these customers: one unusable hash for all (hashing a million passwords takes days).
    unusable = "!seed-scale"

    def users() -> Iterator[dict[str, Any]]:
        for i in range(count):
            created = ago(rng, now, 400)
            yield {
                # 19x numbers from a run-independent counter: unique across runs, valid mainland mobiles.
                "phone": f"19{(base + i) % 10**9:09d}",
                "password_hash": unusable,
                "nickname": f"{rng.choice(SURNAMES)}{'先生' if i % 2 else '女士'}",
                "role": "customer",
                "is_active": True,
                "token_version": 0,
                "created_at": created,
                "updated_at": created,
            }

    return await bulk(User.__table__, users(), count, "users", progress)
