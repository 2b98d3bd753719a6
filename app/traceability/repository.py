from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product
from app.traceability.models import (
    Batch,
    BatchEvent,
    Certificate,
    CertificateKind,
    CodeRun,
    CodeRunStatus,
    Plot,
    Producer,
    TraceCode,
    TraceScan,
)

# Producers and plots


async def get_producer(session: AsyncSession, producer_id: int) -> Producer | None:
    return await session.get(Producer, producer_id)


async def get_producer_by_name(session: AsyncSession, name: str) -> Producer | None:
    return (await session.execute(select(Producer).where(Producer.name == name))).scalar_one_or_none()


async def list_producers(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[Producer], int]:
    total = (await session.execute(select(func.count()).select_from(Producer))).scalar_one()
    rows = await session.execute(select(Producer).order_by(Producer.id).offset(offset).limit(limit))
    return rows.scalars().all(), total


async def get_plot(session: AsyncSession, plot_id: int) -> Plot | None:
    return await session.get(Plot, plot_id)


async def get_plot_by_name(session: AsyncSession, producer_id: int, name: str) -> Plot | None:
    query = select(Plot).where(Plot.producer_id == producer_id, Plot.name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def list_plots(session: AsyncSession, producer_id: int) -> Sequence[Plot]:
    query = select(Plot).where(Plot.producer_id == producer_id).order_by(Plot.id)
    return (await session.execute(query)).scalars().all()


async def plots_of_producers(session: AsyncSession, producer_ids: set[int]) -> dict[int, list[Plot]]:
    found: dict[int, list[Plot]] = {pid: [] for pid in producer_ids}
    if not producer_ids:
        return found
    rows = await session.execute(select(Plot).where(Plot.producer_id.in_(producer_ids)).order_by(Plot.id))
    for plot in rows.scalars():
        found[plot.producer_id].append(plot)
    return found


async def plots_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Plot]:
    if not ids:
        return {}
    rows = await session.execute(select(Plot).where(Plot.id.in_(ids)))
    return {p.id: p for p in rows.scalars()}


async def producers_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Producer]:
    if not ids:
        return {}
    rows = await session.execute(select(Producer).where(Producer.id.in_(ids)))
    return {p.id: p for p in rows.scalars()}


# Products (the catalogue's table, read only)


async def get_product(session: AsyncSession, product_id: int) -> Product | None:
    return await session.get(Product, product_id)


async def products_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Product]:
    if not ids:
        return {}
    rows = await session.execute(select(Product).where(Product.id.in_(ids)))
    return {p.id: p for p in rows.scalars()}


# Batches and events


async def get_batch(session: AsyncSession, batch_id: int) -> Batch | None:
    return await session.get(Batch, batch_id)


async def get_batch_by_no(session: AsyncSession, batch_no: str) -> Batch | None:
    return (await session.execute(select(Batch).where(Batch.batch_no == batch_no))).scalar_one_or_none()


async def list_batches(
    session: AsyncSession, *, product_id: int | None, offset: int, limit: int
) -> tuple[Sequence[Batch], int]:
    where = [Batch.product_id == product_id] if product_id is not None else []
    total = (await session.execute(select(func.count()).select_from(Batch).where(*where))).scalar_one()
    rows = await session.execute(
        select(Batch).where(*where).order_by(Batch.id.desc()).offset(offset).limit(limit)
    )
    return rows.scalars().all(), total


async def batches_of_product(session: AsyncSession, product_id: int, limit: int) -> Sequence[Batch]:
    query = (
        select(Batch)
        .where(Batch.product_id == product_id)
        .order_by(Batch.harvested_on.desc(), Batch.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def list_events(session: AsyncSession, batch_ids: Sequence[int]) -> Sequence[BatchEvent]:
    if not batch_ids:
        return []
    query = (
        select(BatchEvent)
        .where(BatchEvent.batch_id.in_(batch_ids))
        .order_by(BatchEvent.occurred_at, BatchEvent.id)
    )
    return (await session.execute(query)).scalars().all()


async def get_event(session: AsyncSession, batch_id: int, event_id: int) -> BatchEvent | None:
    event = await session.get(BatchEvent, event_id)
    return event if event is not None and event.batch_id == batch_id else None


async def get_event_by_uuid(session: AsyncSession, event_uuid: str) -> BatchEvent | None:
    query = select(BatchEvent).where(BatchEvent.event_uuid == event_uuid)
    return (await session.execute(query)).scalar_one_or_none()


# Certificates


async def get_certificate(session: AsyncSession, certificate_id: int) -> Certificate | None:
    return await session.get(Certificate, certificate_id)


async def list_certificates(
    session: AsyncSession,
    *,
    producer_id: int | None,
    batch_id: int | None,
    product_id: int | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Certificate], int]:
    where = []
    if producer_id is not None:
        where.append(Certificate.producer_id == producer_id)
    if batch_id is not None:
        where.append(Certificate.batch_id == batch_id)
    if product_id is not None:
        where.append(Certificate.product_id == product_id)
    total = (await session.execute(select(func.count()).select_from(Certificate).where(*where))).scalar_one()
    rows = await session.execute(
        select(Certificate).where(*where).order_by(Certificate.id).offset(offset).limit(limit)
    )
    return rows.scalars().all(), total


async def certificates_for(
    session: AsyncSession, *, product_ids: set[int], batch_ids: set[int], producer_ids: set[int]
) -> Sequence[Certificate]:
    conditions = []
    if product_ids:
        conditions.append(Certificate.product_id.in_(product_ids))
    if batch_ids:
        conditions.append(Certificate.batch_id.in_(batch_ids))
    if producer_ids:
        conditions.append(Certificate.producer_id.in_(producer_ids))
    if not conditions:
        return []
    query = select(Certificate).where(or_(*conditions)).order_by(Certificate.valid_until.desc())
    return (await session.execute(query)).scalars().all()


async def certificate_is_public(session: AsyncSession, cert: Certificate) -> bool:
    """Shown on a published product's page: the product's own certificate, one of a batch of it, or one of
    a producer with a batch of it."""
    published = Product.status == "published"
    if cert.product_id is not None:
        query = select(Product.id).where(Product.id == cert.product_id, published)
    elif cert.batch_id is not None:
        query = (
            select(Batch.id)
            .join(Product, Product.id == Batch.product_id)
            .where(Batch.id == cert.batch_id, published)
        )
    elif cert.producer_id is not None:
        query = (
            select(Batch.id)
            .join(Product, Product.id == Batch.product_id)
            .where(Batch.producer_id == cert.producer_id, published)
        )
    else:
        return False
    return (await session.execute(query.limit(1))).first() is not None


async def gi_certificates(
    session: AsyncSession, product_ids: set[int] | None = None
) -> Sequence[Certificate]:
    query = select(Certificate).where(Certificate.kind == CertificateKind.geographical_indication.value)
    return (await session.execute(query)).scalars().all()


async def batch_owners(
    session: AsyncSession, product_ids: set[int] | None = None
) -> list[tuple[int, int, int]]:
    """(batch id, product id, producer id) for every batch (of the given products)."""
    query = select(Batch.id, Batch.product_id, Batch.producer_id)
    if product_ids is not None:
        query = query.where(Batch.product_id.in_(product_ids))
    return [tuple(row) for row in (await session.execute(query)).all()]


async def certificates_expiring(session: AsyncSession, today: date, until: date) -> Sequence[Certificate]:
    query = select(Certificate).where(
        Certificate.expiry_warned_at.is_(None),
        Certificate.valid_until >= today,
        Certificate.valid_until <= until,
    )
    return (await session.execute(query.order_by(Certificate.id).limit(500))).scalars().all()


async def mark_expiry_warned(session: AsyncSession, certificate_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(Certificate)
        .where(Certificate.id == certificate_id, Certificate.expiry_warned_at.is_(None))
        .values(expiry_warned_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# Codes


async def existing_codes(session: AsyncSession, codes: Sequence[str]) -> set[str]:
    rows = await session.execute(select(TraceCode.code).where(TraceCode.code.in_(codes)))
    return set(rows.scalars())


async def insert_codes(
    session: AsyncSession, batch_id: int, codes: Sequence[str], run_id: int | None
) -> None:
    await session.execute(
        insert(TraceCode), [{"code": c, "batch_id": batch_id, "run_id": run_id} for c in codes]
    )


async def get_code(session: AsyncSession, code: str) -> TraceCode | None:
    return (await session.execute(select(TraceCode).where(TraceCode.code == code))).scalar_one_or_none()


async def list_codes(
    session: AsyncSession,
    batch_id: int,
    *,
    run_id: int | None = None,
    include_revoked: bool = True,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[Sequence[TraceCode], int]:
    where = [TraceCode.batch_id == batch_id]
    if run_id is not None:
        where.append(TraceCode.run_id == run_id)
    if not include_revoked:
        where.append(TraceCode.revoked_at.is_(None))
    total = (await session.execute(select(func.count()).select_from(TraceCode).where(*where))).scalar_one()
    query = select(TraceCode).where(*where).order_by(TraceCode.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return (await session.execute(query)).scalars().all(), total


async def list_scans(
    session: AsyncSession, code_id: int, *, offset: int, limit: int
) -> tuple[Sequence[TraceScan], int]:
    where = TraceScan.code_id == code_id
    total = (await session.execute(select(func.count()).select_from(TraceScan).where(where))).scalar_one()
    query = select(TraceScan).where(where).order_by(TraceScan.scanned_at.desc(), TraceScan.id.desc())
    return (await session.execute(query.offset(offset).limit(limit))).scalars().all(), total


async def mark_flagged(session: AsyncSession, code_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(TraceCode)
        .where(TraceCode.id == code_id, TraceCode.flagged_at.is_(None))
        .values(flagged_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def revoke_codes(session: AsyncSession, codes: Sequence[str], reason: str, now: datetime) -> int:
    result = await session.execute(
        update(TraceCode)
        .where(TraceCode.code.in_(codes), TraceCode.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# Code runs


async def get_code_run(session: AsyncSession, run_id: int) -> CodeRun | None:
    return await session.get(CodeRun, run_id)


async def claim_code_run(session: AsyncSession) -> CodeRun | None:
    """Lock one unfinished run; other workers skip it (SKIP LOCKED) and take another."""
    query = (
        select(CodeRun)
        .where(CodeRun.status.in_([CodeRunStatus.pending.value, CodeRunStatus.running.value]))
        .order_by(CodeRun.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def product_gtin(session: AsyncSession, product_id: int) -> str | None:
    from app.catalog.models import Sku

    query = (
        select(Sku.gtin)
        .where(Sku.product_id == product_id, Sku.gtin.is_not(None))
        .order_by(Sku.sort_order, Sku.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


# Recall: which batch each shipped order line came from


async def order_lines(session: AsyncSession, order_id: int) -> list[tuple[int, int, int, int, int]]:
    """(order item id, sku id, product id, quantity, sku weight in grams) of each line of the order."""
    from app.catalog.models import Sku
    from app.orders.models import OrderItem

    query = (
        select(OrderItem.id, OrderItem.sku_id, OrderItem.product_id, OrderItem.quantity, Sku.weight_g)
        .outerjoin(Sku, Sku.id == OrderItem.sku_id)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.id)
    )
    return [(a, b, c, d, e or 0) for a, b, c, d, e in (await session.execute(query)).all()]


async def fefo_candidates(session: AsyncSession, product_id: int) -> Sequence[int]:
    """Batches of the product with quantity left: first to expire first, then the oldest."""
    query = (
        select(Batch.id)
        .where(Batch.product_id == product_id, Batch.quantity_left_g > 0)
        .order_by(
            Batch.best_before_on.is_(None),
            Batch.best_before_on,
            Batch.harvested_on.is_(None),
            Batch.harvested_on,
            Batch.id,
        )
    )
    return (await session.execute(query)).scalars().all()


async def take_from_batch(session: AsyncSession, batch_id: int, grams: int, *, or_what_is_left: bool) -> bool:
    """Atomically take `grams` from the batch's quantity left; with `or_what_is_left`, down to zero."""
    from sqlalchemy import case

    if or_what_is_left:
        new_value = case((Batch.quantity_left_g >= grams, Batch.quantity_left_g - grams), else_=0)
        where = [Batch.id == batch_id]
    else:
        new_value = Batch.quantity_left_g - grams
        where = [Batch.id == batch_id, Batch.quantity_left_g >= grams]
    result = await session.execute(
        update(Batch)
        .where(*where)
        .values(quantity_left_g=new_value)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def orders_of_batch(
    session: AsyncSession,
    batch_id: int,
    offset: int,
    limit: int,
    *,
    after_order_id: int | None,
    count_cap: int,
) -> tuple[list[Any], int]:
    """A page of a batch's recall list, by order id: after `offset` orders or (keyset) after
    `after_order_id`, and the number of orders counted up to `count_cap + 1` (both read
    ix_batch_allocations_batch_order in order, never the whole list)."""
    from app.orders.models import Order, OrderItem
    from app.traceability.models import BatchAllocation

    where = [BatchAllocation.batch_id == batch_id]
    # GROUP BY with ORDER BY on the index's own order: DISTINCT made MariaDB build a temporary table.
    bounded = (
        select(BatchAllocation.order_id)
        .where(*where)
        .group_by(BatchAllocation.order_id)
        .order_by(BatchAllocation.order_id)
        .limit(count_cap + 1)
        .subquery()
    )
    total = (await session.execute(select(func.count()).select_from(bounded))).scalar_one()
    if after_order_id is not None:
        where.append(BatchAllocation.order_id > after_order_id)
        offset = 0
    order_ids = (
        (
            await session.execute(
                select(BatchAllocation.order_id)
                .where(*where)
                .group_by(BatchAllocation.order_id)
                .order_by(BatchAllocation.order_id)
                .offset(offset)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not order_ids:
        return [], total
    rows = await session.execute(
        select(Order, OrderItem, BatchAllocation)
        .join(BatchAllocation, BatchAllocation.order_id == Order.id)
        .join(OrderItem, OrderItem.id == BatchAllocation.order_item_id)
        .where(BatchAllocation.batch_id == batch_id, Order.id.in_(order_ids))
        .order_by(Order.id, OrderItem.id)
    )
    return list(rows.all()), total
