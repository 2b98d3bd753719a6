"""Plain factory functions with keyword overrides for the traceability domain."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.catalog.models import Product
from app.db import session_scope
from app.kit.time import shop_today
from app.traceability import issuing as trace_issuing
from app.traceability.models import Batch, BatchEvent, Certificate, Plot, Producer, TraceCode
from tests.catalog.factories import create_product

_seq = itertools.count(1)


async def create_producer(**overrides: Any) -> Producer:
    n = next(_seq)
    fields: dict[str, Any] = dict(
        name=f"五常市民乐水稻种植合作社{n}", region="黑龙江省五常市", license_no=f"GI-WC-{n:04d}"
    )
    fields.update(overrides)
    async with session_scope() as session:
        producer = Producer(**fields)
        session.add(producer)
    return producer


async def create_plot(producer: Producer, **overrides: Any) -> Plot:
    fields: dict[str, Any] = dict(
        name=f"民乐{next(_seq)}号地", village="民乐朝鲜族乡", area_mu=Decimal("12.50")
    )
    fields.update(overrides)
    async with session_scope() as session:
        plot = Plot(producer_id=producer.id, **fields)
        session.add(plot)
    return plot


async def create_batch(
    *,
    product: Product | None = None,
    producer: Producer | None = None,
    plot: Plot | None = None,
    **overrides: Any,
) -> Batch:
    product = product or await create_product()
    producer = producer or await create_producer()
    fields: dict[str, Any] = dict(
        batch_no=f"TB{next(_seq):06d}",
        variety="稻花香2号",
        harvested_on=date(2026, 9, 28),
        milled_on=date(2026, 10, 8),
        best_before_on=shop_today() + timedelta(days=300),
        quantity_kg=Decimal("1000"),
        quantity_left_g=1_000_000,
    )
    fields.update(overrides)
    async with session_scope() as session:
        batch = Batch(
            product_id=product.id, producer_id=producer.id, plot_id=plot.id if plot else None, **fields
        )
        session.add(batch)
    return batch


async def create_event(batch: Batch, **overrides: Any) -> BatchEvent:
    import uuid

    fields: dict[str, Any] = dict(
        type="harvested",
        occurred_at=datetime.fromisoformat("2026-09-28T08:30:00+08:00"),
        tz_offset="+08:00",
        location="民乐乡 3 号地",
        details={"machine": "久保田 PRO988Q"},
    )
    fields.update(overrides)
    async with session_scope() as session:
        event = BatchEvent(event_uuid=str(uuid.uuid4()), batch_id=batch.id, **fields)
        session.add(event)
    return event


async def create_certificate(**overrides: Any) -> Certificate:
    fields: dict[str, Any] = dict(
        kind="geographical_indication",
        number=f"GI-{next(_seq):05d}",
        issuer="国家知识产权局",
        valid_from=shop_today() - timedelta(days=365),
        valid_until=shop_today() + timedelta(days=365),
    )
    fields.update(overrides)
    async with session_scope() as session:
        cert = Certificate(**fields)
        session.add(cert)
    return cert


async def create_codes(batch: Batch, count: int = 1) -> list[str]:
    async with session_scope() as session:
        return await trace_issuing.issue_codes(session, batch.id, count)


async def get_code(code: str) -> TraceCode:
    from sqlalchemy import select

    async with session_scope() as session:
        return (await session.execute(select(TraceCode).where(TraceCode.code == code))).scalar_one()


async def get_product(product_id: int) -> Product:
    async with session_scope() as session:
        return await session.get(Product, product_id)
