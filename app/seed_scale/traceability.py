"""Producers, batches, certificates (some about to expire) and trace codes (a few flagged or revoked)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from app.db import get_engine
from app.seed_scale.bulk import Progress, ScaleReport, ago, bulk, bulk_no_ids
from app.seed_scale.words import TOWNS, VARIETIES
from app.traceability import codes as trace_codes
from app.traceability.models import Batch as BatchRow
from app.traceability.models import Certificate, Producer, TraceCode


async def seed_traceability(
    rng: random.Random,
    now: datetime,
    product_ids: Sequence[int],
    codes: int,
    run: str,
    progress: Progress,
    report: ScaleReport,
) -> dict[int, int]:
    """Producers, a batch for about one product in twenty (the popular ones first), certificates (a few
    expiring within 30 days) and `codes` trace codes spread over the batches. Returns product id -> batch id."""
    if not product_ids:
        return {}
    engine = get_engine()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Producer.__table__),
            [
                {
                    "name": f"五常{town}合作社 {run}",
                    "region": f"黑龙江五常{town}",
                    "license_no": f"93230184MA{run}{i:02d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, town in enumerate(TOWNS)
            ],
        )
        producer_ids = list(
            (
                await conn.execute(
                    select(Producer.__table__.c.id).where(Producer.__table__.c.name.like(f"%{run}"))
                )
            )
            .scalars()
            .all()
        )
    with_batch = product_ids[: max(1, len(product_ids) // 20)]

    def batches() -> Iterator[dict[str, Any]]:
        for i, product_id in enumerate(with_batch):
            harvested = (now - timedelta(days=rng.randint(30, 330))).date()
            yield {
                "batch_no": f"WC{run}{i:07d}",
                "product_id": product_id,
                "producer_id": rng.choice(producer_ids),
                "variety": rng.choice(VARIETIES),
                "harvested_on": harvested,
                "milled_on": harvested + timedelta(days=20),
                "best_before_on": harvested + timedelta(days=365),
                "quantity_kg": 100_000,
                "quantity_left_g": 100_000_000,
                "created_at": now,
                "updated_at": now,
            }

    batch_ids = await bulk(BatchRow.__table__, batches(), len(with_batch), "batches", progress)
    by_product = dict(zip(with_batch, batch_ids, strict=True))

    def certificates() -> Iterator[dict[str, Any]]:
        for i, batch_id in enumerate(batch_ids):
            valid_from = (now - timedelta(days=rng.randint(30, 700))).date()
            until = now.date() + timedelta(days=rng.randint(1, 29) if i % 25 == 0 else rng.randint(60, 700))
            yield {
                "kind": "green_food" if i % 2 else "organic",
                "number": f"LB-{run}-{i:07d}",
                "issuer": "中国绿色食品发展中心",
                "valid_from": valid_from,
                "valid_until": until,
                "batch_id": batch_id,
                "created_at": now,
                "updated_at": now,
            }

    await bulk(Certificate.__table__, certificates(), len(batch_ids), "certificates", progress)

    def trace_rows() -> Iterator[dict[str, Any]]:
        for i in range(codes):
            scanned = rng.random() < 0.2
            flagged = scanned and rng.random() < 0.005
            first = ago(rng, now, 300) if scanned else None
            yield {
                "code": trace_codes.new_code(),
                "batch_id": batch_ids[i % len(batch_ids)],
                "scan_count": rng.randint(1, 4) + (30 if flagged else 0) if scanned else 0,
                "scanner_count": (12 if flagged else 1) if scanned else 0,
                "first_scanned_at": first,
                "last_scanned_at": first,
                "flagged_at": first if flagged else None,
                "revoked_at": now if i % 5000 == 4999 else None,
                "revoked_reason": "破损召回" if i % 5000 == 4999 else "",
                "created_at": now,
            }

    if codes > 0:
        await bulk_no_ids(TraceCode.__table__, trace_rows(), codes, "trace codes", progress)
        report.codes = codes
    return by_product
