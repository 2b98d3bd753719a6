"""Field adoption: staff create plans, the public reads them with the plot's story, the checkout's adoption
kind (app.checkout.adoption) asks `check_adoptable` and takes shares through its store; once paid, adopters
read their adoptions and draw kilograms (`draw`, race-proof: a conditional UPDATE never lets the kg drawn pass
the kg owned).

Shares move exactly once each way: taken by an adoption order (checkout's conditional UPDATE, guarded by
CHECK (shares_left >= 0)), given back when that order ends unpaid (`give_back_orders`, registered with
orders at start-up). Kilograms: drawn by a delivery order (a prepaid order of kind adoption_delivery, whose
bags orders itself puts back into stock if it is refunded before shipping; the kilograms stay drawn).

Season end (the rule this shop offers): a plan's season ends on 30 June (Beijing) of the year after its
harvest year; what a paid adopter has not drawn by then is shipped to their default address, once
(app.flows.adoption_season, safe with several workers: `close_season` is a conditional UPDATE).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.adoptions import repository
from app.adoptions.errors import (
    AdoptionKgExceeded,
    AdoptionKgNotWholeBags,
    AdoptionNotFound,
    AdoptionPlanNotFound,
    AdoptionSeasonOver,
    AdoptionSoldOut,
    PlotNotFound,
    PlotWithoutProduct,
)
from app.adoptions.models import Adoption, AdoptionPlan
from app.adoptions.schemas import AdoptionPlanCreate, AdoptionRead, DeliveryRead, PlotEvent
from app.db import utcnow
from app.kit.time import SHOP_TZ
from app.orders.errors import InvalidOrderState
from app.traceability import repository as trace_repository
from app.traceability.certificates import certificate_file_url, certificate_status
from app.traceability.service import local_time, photo_url
from app.users.models import User

JOB_BATCH = 100


def season_end(season: str) -> datetime:
    """30 June of the year after the harvest, at the end of the day in Beijing (as UTC)."""
    return datetime(int(season) + 1, 7, 1, tzinfo=SHOP_TZ).astimezone(UTC)


async def create_plan(session: AsyncSession, staff: User, data: AdoptionPlanCreate) -> AdoptionPlan:
    if await trace_repository.get_plot(session, data.plot_id) is None:
        raise PlotNotFound("No such plot.", plot_id=data.plot_id)
    sku_id = await repository.plot_bag(session, data.plot_id)
    if sku_id is None:
        raise PlotWithoutProduct(
            "The plot has no batch yet whose product has an active SKU with a weight: record a batch of the"
            " plot first, so the adopters' rice has a bag to ship in.",
            plot_id=data.plot_id,
        )
    plan = await repository.insert_plan(
        session,
        {
            **data.model_dump(),
            "sku_id": sku_id,
            "shares_left": data.shares,
            "season_ends_at": season_end(data.season),
            "created_by": staff.id,
        },
    )
    await events.emit(
        session,
        "adoption_plan.created",
        {
            "plan_id": plan.id,
            "plot_id": plan.plot_id,
            "sku_id": sku_id,
            "name": plan.name,
            "season": plan.season,
            "shares": plan.shares,
            "share_price_fen": plan.share_price_fen,
            "yield_kg_per_share": plan.yield_kg_per_share,
            "season_ends_at": plan.season_ends_at.isoformat(),
            "created_by": staff.id,
        },
        subject=f"adoption_plan/{plan.id}",
    )
    return plan


async def get_plan_or_raise(session: AsyncSession, plan_id: int) -> AdoptionPlan:
    plan = await repository.get_plan(session, plan_id)
    if plan is None:
        raise AdoptionPlanNotFound("No such adoption plan.")
    return plan


async def list_open(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[AdoptionPlan], int]:
    return await repository.list_plans(session, offset, limit, open_at=utcnow())


async def list_for_staff(
    session: AsyncSession, offset: int, limit: int
) -> tuple[Sequence[AdoptionPlan], int]:
    return await repository.list_plans(session, offset, limit)


async def plot_events(session: AsyncSession, plot_id: int) -> list[PlotEvent]:
    """Every batch event of the plot (planting, irrigation, harvest...), oldest first, with its photo."""
    batches = {b.id: b.batch_no for b in await repository.plot_batches(session, plot_id)}
    return [
        PlotEvent(
            batch_no=batches[e.batch_id],
            type=e.type,
            occurred_at=local_time(e),
            location=e.location,
            details=e.details or {},
            photo_url=photo_url(e),
        )
        for e in await repository.plot_events(session, list(batches))
    ]


async def plan_detail(session: AsyncSession, plan_id: int) -> dict[str, Any]:
    """The plan with its plot's story: the plot and its producer, the events, the producer's certificates."""
    plan = await get_plan_or_raise(session, plan_id)
    plot = await trace_repository.get_plot(session, plan.plot_id)
    assert plot is not None  # plots are never deleted while a plan names them (RESTRICT)
    producer = await trace_repository.get_producer(session, plot.producer_id)
    assert producer is not None
    certificates = await trace_repository.certificates_for(
        session, product_ids=set(), batch_ids=set(), producer_ids={producer.id}
    )
    return {
        **{c: getattr(plan, c) for c in AdoptionPlan.__table__.columns.keys()},
        "plot": {
            "id": plot.id,
            "name": plot.name,
            "village": plot.village,
            "area_mu": str(plot.area_mu) if plot.area_mu is not None else None,
            "producer": {
                "id": producer.id,
                "name": producer.name,
                "region": producer.region,
                "license_no": producer.license_no,
                "description": producer.description,
            },
        },
        "events": await plot_events(session, plot.id),
        "certificates": [
            {
                "id": c.id,
                "kind": c.kind,
                "number": c.number,
                "issuer": c.issuer,
                "valid_from": c.valid_from.isoformat(),
                "valid_until": c.valid_until.isoformat(),
                "status": certificate_status(c),
                "file_url": certificate_file_url(c),
            }
            for c in certificates
        ],
    }


# ---------------------------------------------------------------------------------------------- adopting


def check_adoptable(plan: AdoptionPlan, shares: int, now: datetime) -> None:
    """The plan's word before checkout takes the shares (which decides alone, with its conditional UPDATE)."""
    if now >= plan.season_ends_at:
        raise AdoptionSeasonOver("This plan's season is over.")
    if plan.shares_left < shares:
        raise sold_out(plan.shares_left)


def sold_out(left: int | None = None) -> AdoptionSoldOut:
    extra = {} if left is None else {"shares_left": left}
    return AdoptionSoldOut("Not enough shares of this plot are left.", **extra)


def adoption_row(
    plan: AdoptionPlan, user_id: int, order_id: int, shares: int, now: datetime
) -> dict[str, Any]:
    """The adoption an order of kind adoption records (the store inserts it with the shares it takes)."""
    return {
        "plan_id": plan.id,
        "user_id": user_id,
        "order_id": order_id,
        "shares": shares,
        "kg_total": shares * plan.yield_kg_per_share,
        "kg_delivered": 0,
        "created_at": now,
    }


async def give_back_orders(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """The release of adoption orders (app.orders.releases: once per order, in the transaction that cancels
    it or refunds it): the shares go back to the plan."""
    at = utcnow()
    to_plan: dict[int, int] = defaultdict(int)
    for adoption in await repository.adoptions_to_release(session, order_ids):
        if await repository.release_adoption(session, adoption.id, at):
            to_plan[adoption.plan_id] += adoption.shares
    for plan_id in sorted(to_plan):
        await repository.return_shares(session, plan_id, to_plan[plan_id], at)


# ---------------------------------------------------------------------------------------------- the adopter's


async def my_adoptions(session: AsyncSession, user_id: int) -> list[AdoptionRead]:
    adoptions = await repository.paid_adoptions(session, user_id)
    plans = await repository.plans_by_ids(session, {a.plan_id for a in adoptions})
    deliveries = await repository.deliveries_of(session, [a.id for a in adoptions])
    batch_nos = await repository.batch_nos(session, {d.batch_id for d in deliveries if d.batch_id})
    by_adoption: dict[int, list[DeliveryRead]] = defaultdict(list)
    for d in deliveries:
        by_adoption[d.adoption_id].append(
            DeliveryRead(
                order_id=d.order_id,
                kg=d.kg,
                batch_no=batch_nos.get(d.batch_id) if d.batch_id else None,
                by_season_end=d.by_season_end,
                created_at=d.created_at,
            )
        )
    events_of: dict[int, list[PlotEvent]] = {}
    answer = []
    for a in adoptions:
        plan = plans[a.plan_id]
        if plan.plot_id not in events_of:
            events_of[plan.plot_id] = await plot_events(session, plan.plot_id)
        answer.append(
            AdoptionRead(
                id=a.id,
                plan_id=plan.id,
                plan_name=plan.name,
                order_id=a.order_id,
                shares=a.shares,
                kg_total=a.kg_total,
                kg_left=a.kg_total - a.kg_delivered,
                season_ends_at=plan.season_ends_at,
                events=events_of[plan.plot_id],
                deliveries=by_adoption[a.id],
            )
        )
    return answer


@dataclass(frozen=True, slots=True)
class Draw:
    """Kilograms drawn on an adoption, as the delivery order ships them: `bags` of the plan's SKU from the
    plot's batch `batch_id` (None: the plot has no batch of that product)."""

    adoption: Adoption
    plan: AdoptionPlan
    kg: int
    bags: int
    batch_id: int | None


async def draw(session: AsyncSession, user_id: int, adoption_id: int, kg: int) -> Draw:
    """Draw `kg` on the customer's paid adoption, in whole bags of the plan's SKU. Race-proof: the draw is
    a conditional UPDATE, so concurrent requests together never draw more than is left."""
    adoption = await repository.paid_adoption(session, user_id, adoption_id)
    if adoption is None:
        raise AdoptionNotFound("No such adoption (or it is not paid yet).")
    plan = await get_plan_or_raise(session, adoption.plan_id)
    if adoption.season_closed_at is not None or utcnow() >= plan.season_ends_at:
        raise AdoptionSeasonOver("This adoption's season is over; what was left was shipped to you.")
    weight_g = await repository.sku_weight_g(session, plan.sku_id)
    if (kg * 1000) % weight_g:
        raise AdoptionKgNotWholeBags(
            f"Deliveries come in bags of {weight_g / 1000:g} kg; ask for a multiple of that.",
            bag_kg=weight_g / 1000,
        )
    if not await repository.take_kg(session, adoption.id, kg):
        left = adoption.kg_total - adoption.kg_delivered
        raise AdoptionKgExceeded(f"At most {left} kg are left to deliver.", kg_left=left)
    batch_id = await repository.delivery_batch(session, plan.plot_id, plan.sku_id)
    return Draw(adoption, plan, kg, kg * 1000 // weight_g, batch_id)


async def record_delivery(session: AsyncSession, drawn: Draw, order_id: int, *, by_season_end: bool) -> None:
    await repository.insert_delivery(
        session,
        {
            "adoption_id": drawn.adoption.id,
            "order_id": order_id,
            "kg": drawn.kg,
            "batch_id": drawn.batch_id,
            "by_season_end": by_season_end,
        },
    )
    await events.emit(
        session,
        "adoption.delivery_requested",
        {
            "adoption_id": drawn.adoption.id,
            "plan_id": drawn.plan.id,
            "user_id": drawn.adoption.user_id,
            "order_id": order_id,
            "kg": drawn.kg,
            "batch_id": drawn.batch_id,
            "by_season_end": by_season_end,
        },
        subject=f"adoption/{drawn.adoption.id}",
    )


# ---------------------------------------------------------------------------------------------- season end


async def season_over(session: AsyncSession) -> Sequence[tuple[int, int, int]]:
    return await repository.season_over(session, utcnow(), JOB_BATCH)


async def close_season(session: AsyncSession, adoption_id: int, kg_left: int) -> bool:
    """Claim the season end of an adoption: True for exactly one caller, however many workers race (and
    False when a delivery was drawn since `kg_left` was read: the next run sees the new figure)."""
    return await repository.close_season(session, adoption_id, kg_left, utcnow())


async def season_draw(session: AsyncSession, adoption_id: int, kg_left: int) -> Draw:
    """What a closed adoption had left, as whole bags of the plan's SKU (a remainder smaller than one bag
    stays in the record)."""
    adoption = await session.get(Adoption, adoption_id, populate_existing=True)
    assert adoption is not None
    plan = await get_plan_or_raise(session, adoption.plan_id)
    weight_g = await repository.sku_weight_g(session, plan.sku_id)
    batch_id = await repository.delivery_batch(session, plan.plot_id, plan.sku_id)
    return Draw(adoption, plan, kg_left, kg_left * 1000 // weight_g, batch_id)


async def refuse_shipping(session: AsyncSession, order: Any) -> None:
    """An adoption's order is not shipped: the adopter draws kilograms as delivery orders."""
    raise InvalidOrderState(
        "An adoption is not shipped itself: the adopter's deliveries ship as their own orders.",
        order_id=order.id,
    )


async def check_refund_request(session: AsyncSession, order: Any) -> None:
    """A paid adoption may be refunded only while nothing of it was drawn (its shares then go back to the plan);
    its row is locked first, so a draw at the same moment either came first (and this refuses) or finds the
    order refunding (and draws nothing)."""
    adoption = await repository.lock_by_order(session, order.id)
    if adoption is not None and adoption.kg_delivered > 0:
        raise InvalidOrderState(
            f"{adoption.kg_delivered} kg of this adoption were delivered already; please contact the shop.",
            order_id=order.id,
        )
