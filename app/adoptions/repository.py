from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.adoptions.models import Adoption, AdoptionDelivery, AdoptionPlan
from app.catalog.models import Sku
from app.orders.models import Order, OrderStatus
from app.traceability.models import Batch, BatchEvent

# An adoption counts as the adopter's once its order is paid (and while it is not being refunded).
PAID = (OrderStatus.paid.value, OrderStatus.shipped.value, OrderStatus.completed.value)


async def insert_plan(session: AsyncSession, values: dict[str, Any]) -> AdoptionPlan:
    plan = AdoptionPlan(**values)
    session.add(plan)
    await session.flush()
    return plan


async def get_plan(session: AsyncSession, plan_id: int) -> AdoptionPlan | None:
    return await session.get(AdoptionPlan, plan_id, populate_existing=True)


async def plans_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, AdoptionPlan]:
    if not ids:
        return {}
    rows = await session.execute(select(AdoptionPlan).where(AdoptionPlan.id.in_(ids)))
    return {plan.id: plan for plan in rows.scalars().all()}


async def list_plans(
    session: AsyncSession, offset: int, limit: int, *, open_at: datetime | None = None
) -> tuple[Sequence[AdoptionPlan], int]:
    """Newest first; with `open_at`, only the plans whose season has not ended then."""
    where = [AdoptionPlan.season_ends_at > open_at] if open_at is not None else []
    rows = await session.execute(
        select(AdoptionPlan).where(*where).order_by(AdoptionPlan.id.desc()).offset(offset).limit(limit)
    )
    total = (await session.execute(select(func.count()).select_from(AdoptionPlan).where(*where))).scalar_one()
    return rows.scalars().all(), total


async def plot_bag(session: AsyncSession, plot_id: int) -> int | None:
    """The SKU the plot's rice ships in: of the product of the plot's latest batch, the lightest active SKU
    with a weight (the finest unit a delivery can be drawn in). None when the plot has no such product."""
    product_id = (
        await session.execute(
            select(Batch.product_id).where(Batch.plot_id == plot_id).order_by(Batch.id.desc()).limit(1)
        )
    ).scalar_one_or_none()
    if product_id is None:
        return None
    return (
        await session.execute(
            select(Sku.id)
            .where(Sku.product_id == product_id, Sku.is_active.is_(True), Sku.weight_g > 0)
            .order_by(Sku.weight_g, Sku.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def sku_weight_g(session: AsyncSession, sku_id: int) -> int:
    return int((await session.execute(select(Sku.weight_g).where(Sku.id == sku_id))).scalar_one())


async def plot_batches(session: AsyncSession, plot_id: int) -> Sequence[Batch]:
    rows = await session.execute(select(Batch).where(Batch.plot_id == plot_id).order_by(Batch.id))
    return rows.scalars().all()


async def plot_events(session: AsyncSession, batch_ids: Sequence[int]) -> Sequence[BatchEvent]:
    if not batch_ids:
        return []
    rows = await session.execute(
        select(BatchEvent)
        .where(BatchEvent.batch_id.in_(list(batch_ids)))
        .order_by(BatchEvent.occurred_at, BatchEvent.id)
    )
    return rows.scalars().all()


async def delivery_batch(session: AsyncSession, plot_id: int, sku_id: int) -> int | None:
    """The plot's batch a delivery ships from: of the bag's product, the plot's latest batch with rice left,
    else its latest batch at all (None when the plot has none of that product yet)."""
    product_id = select(Sku.product_id).where(Sku.id == sku_id).scalar_subquery()
    of_plot = select(Batch.id).where(Batch.plot_id == plot_id, Batch.product_id == product_id)
    found = (
        await session.execute(of_plot.where(Batch.quantity_left_g > 0).order_by(Batch.id.desc()).limit(1))
    ).scalar_one_or_none()
    if found is None:
        found = (await session.execute(of_plot.order_by(Batch.id.desc()).limit(1))).scalar_one_or_none()
    return found


async def batch_nos(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Batch.id, Batch.batch_no).where(Batch.id.in_(ids)))
    return {int(batch_id): str(no) for batch_id, no in rows.all()}


# ---------------------------------------------------------------------------------------------- shares


async def insert_adoption(session: AsyncSession, values: dict[str, Any]) -> None:
    conn = await session.connection()
    await conn.execute(insert(Adoption.__table__).values(**values))


async def take_shares(session: AsyncSession, plan_id: int, shares: int, now: datetime) -> bool:
    """Take `shares` of a plan; False (nothing taken) when fewer are left."""
    conn = await session.connection()
    table = AdoptionPlan.__table__
    result = await conn.execute(
        update(table)
        .where(table.c.id == plan_id, table.c.shares_left >= shares)
        .values(shares_left=table.c.shares_left - shares, updated_at=now)
    )
    return result.rowcount == 1


async def adoptions_to_release(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[Adoption]:
    rows = await session.execute(
        select(Adoption)
        .where(Adoption.order_id.in_(list(order_ids)), Adoption.released_at.is_(None))
        .order_by(Adoption.plan_id, Adoption.id)
    )
    return rows.scalars().all()


async def release_adoption(session: AsyncSession, adoption_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(Adoption)
        .where(Adoption.id == adoption_id, Adoption.released_at.is_(None))
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def return_shares(session: AsyncSession, plan_id: int, shares: int, now: datetime) -> None:
    await session.execute(
        update(AdoptionPlan)
        .where(AdoptionPlan.id == plan_id)
        .values(shares_left=AdoptionPlan.shares_left + shares, updated_at=now)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------------------------------- the adopter's


def _paid() -> Any:
    return and_(Order.id == Adoption.order_id, Order.status.in_(PAID))


async def paid_adoptions(session: AsyncSession, user_id: int) -> Sequence[Adoption]:
    rows = await session.execute(
        select(Adoption)
        .join(Order, _paid())
        .where(Adoption.user_id == user_id, Adoption.released_at.is_(None))
        .order_by(Adoption.id.desc())
    )
    return rows.scalars().all()


async def paid_adoption(session: AsyncSession, user_id: int, adoption_id: int) -> Adoption | None:
    rows = await session.execute(
        select(Adoption)
        .join(Order, _paid())
        .where(Adoption.id == adoption_id, Adoption.user_id == user_id, Adoption.released_at.is_(None))
        .execution_options(populate_existing=True)
    )
    return rows.scalars().first()


async def take_kg(session: AsyncSession, adoption_id: int, kg: int) -> bool:
    """Draw `kg` on an adoption; False (nothing drawn) when fewer are left or its season was closed."""
    result = await session.execute(
        update(Adoption)
        .where(
            Adoption.id == adoption_id,
            Adoption.season_closed_at.is_(None),
            Adoption.kg_delivered + kg <= Adoption.kg_total,
            # Still paid when the row is ours: a refund request that locked it first wins (check_refund_request).
            Adoption.order_id.in_(select(Order.id).where(Order.status == OrderStatus.paid)),
        )
        .values(kg_delivered=Adoption.kg_delivered + kg)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def insert_delivery(session: AsyncSession, values: dict[str, Any]) -> None:
    session.add(AdoptionDelivery(**values))
    await session.flush()


async def deliveries_of(session: AsyncSession, adoption_ids: Sequence[int]) -> Sequence[AdoptionDelivery]:
    if not adoption_ids:
        return []
    rows = await session.execute(
        select(AdoptionDelivery)
        .where(AdoptionDelivery.adoption_id.in_(list(adoption_ids)))
        .order_by(AdoptionDelivery.id)
    )
    return rows.scalars().all()


# ---------------------------------------------------------------------------------------------- season end


async def season_over(session: AsyncSession, now: datetime, limit: int) -> Sequence[tuple[int, int, int]]:
    """(adoption id, user id, kg left) of paid adoptions whose plan's season ended and that still hold rice
    and were not closed yet."""
    rows = await session.execute(
        select(Adoption.id, Adoption.user_id, Adoption.kg_total - Adoption.kg_delivered)
        .join(Order, _paid())
        .join(AdoptionPlan, AdoptionPlan.id == Adoption.plan_id)
        .where(
            AdoptionPlan.season_ends_at <= now,
            Adoption.season_closed_at.is_(None),
            Adoption.released_at.is_(None),
        )
        .order_by(Adoption.id)
        .limit(limit)
    )
    return [(int(a), int(u), int(k)) for a, u, k in rows.all()]


async def close_season(session: AsyncSession, adoption_id: int, kg_left: int, now: datetime) -> bool:
    """Claim an adoption's season end once (several workers may race: a conditional UPDATE, which also
    fails when a delivery was drawn since `kg_left` was read): everything left counts as delivered."""
    result = await session.execute(
        update(Adoption)
        .where(
            Adoption.id == adoption_id,
            Adoption.season_closed_at.is_(None),
            Adoption.kg_total - Adoption.kg_delivered == kg_left,
        )
        .values(season_closed_at=now, kg_delivered=Adoption.kg_total)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def lock_by_order(session: AsyncSession, order_id: int) -> Adoption | None:
    """The adoption of an order, its row locked (a draw waits for it, and then finds the order refunding)."""
    rows = await session.execute(
        select(Adoption)
        .where(Adoption.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return rows.scalars().first()
