"""The adoption order kind (认养): the standard steps with four swapped - the plan's line (its bag SKU, as
many units as shares), the plan's price per share, no shipping (nothing ships with the adoption itself; each
delivery drawn later is an order of its own), and shares reserved from the plan instead of SKU stock (store
method `take_adoption_shares`). And the deliveries an adopter draws: `adoption_delivery` orders
(app.checkout.delivery) from the plot's batch, recorded for traceability."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.adoptions import service as adoptions_service
from app.adoptions.models import AdoptionPlan
from app.adoptions.schemas import AdoptCreate, DeliveryCreate
from app.checkout import pipeline
from app.checkout.delivery import ADOPTION_DELIVERY, place_delivery_order
from app.config import get_settings
from app.db import utcnow
from app.errors import AppError
from app.orders import repository as orders_repository
from app.orders import service as orders_service
from app.orders.errors import TooManyUnpaidOrders
from app.orders.models import OrderKind
from app.orders.schemas import OrderCreate
from app.traceability import shipments as trace_shipments
from app.users.models import Principal, User


@dataclass(slots=True)
class AdoptionOffer:
    """A request to adopt shares of a plan, as the adoption steps see it."""

    plan_id: int
    shares: int
    plan: AdoptionPlan | None = None

    def key_fields(self) -> dict[str, Any]:
        return {"adoption_plan_id": self.plan_id, "shares": self.shares}


def _offer(c: pipeline.Checkout) -> AdoptionOffer:
    assert isinstance(c.offer, AdoptionOffer), "an adoption checkout needs its AdoptionOffer"
    return c.offer


async def adoption_lines(c: pipeline.Checkout) -> None:
    """The plan (through the request's session, before any lock: its terms never change; the shares left
    are decided by the store's conditional UPDATE) and the order's one line: the plan's bag × shares."""
    offer = _offer(c)
    try:
        offer.plan = await adoptions_service.get_plan_or_raise(c.store.session, offer.plan_id)
        adoptions_service.check_adoptable(offer.plan, offer.shares, utcnow())
    except AppError:
        # A repeat of a request that was placed gets that request's order, not today's refusal (the
        # store raises for it: its key is looked at once, as the flash sale's gate does).
        await c.store.check_key()
        raise
    c.lines = {offer.plan.sku_id: offer.shares}


async def adoption_unpaid_limits(c: pipeline.Checkout) -> None:
    """The customer's unpaid orders are capped as for any order; the units held unpaid are not counted for
    shares (a company adopts dozens of shares at once; the plan's shares_left is what bounds them)."""
    assert c.reads is not None
    limit = get_settings().max_unpaid_orders_per_customer
    if c.reads.unpaid_orders >= limit:
        raise TooManyUnpaidOrders(
            f"You have {c.reads.unpaid_orders} unpaid orders (at most {limit}); pay or cancel one first.",
            limit=limit,
        )


async def adoption_price(c: pipeline.Checkout) -> None:
    """The line at the plan's price per share, named after the plan."""
    await pipeline.price(c)
    plan = _offer(c).plan
    assert plan is not None
    for item in c.items:
        item["name"] = f"认养 {plan.name}"[:200]
        item["unit_price_fen"] = plan.share_price_fen
        item["subtotal_fen"] = plan.share_price_fen * item["quantity"]
    c.subtotal_fen = sum(item["subtotal_fen"] for item in c.items)


async def no_shipping(c: pipeline.Checkout) -> None:
    c.shipping_fen = 0


async def reserve_shares(c: pipeline.Checkout) -> None:
    """The shares come from the plan, last, with the adoption row its cancellation gives back."""
    offer = _offer(c)
    assert offer.plan is not None and c.now is not None
    row = adoptions_service.adoption_row(offer.plan, c.user_id, c.order["id"], offer.shares, c.now)
    if not await c.store.take_adoption_shares(offer.plan_id, offer.shares, row):
        raise adoptions_service.sold_out()


def _adoption_steps() -> tuple[pipeline.Step, ...]:
    swaps: dict[pipeline.Step, tuple[pipeline.Step, ...]] = {
        pipeline.collect_lines: (adoption_lines,),
        pipeline.check_line_limits: (),  # one line; AdoptCreate caps the shares, the plan's shares_left too
        pipeline.check_unpaid_limits: (adoption_unpaid_limits,),
        pipeline.price: (adoption_price,),
        pipeline.shipping: (no_shipping,),
        pipeline.reserve_stock: (reserve_shares,),
    }
    return tuple(swapped for step in pipeline.STANDARD.steps for swapped in swaps.get(step, (step,)))


ADOPTION = pipeline.OrderKind(OrderKind.adoption.value, _adoption_steps())


async def request_delivery(
    session: AsyncSession, user: User | Principal, adoption_id: int, data: DeliveryCreate
) -> dict[str, Any]:
    """Draw `data.kg` on the customer's paid adoption: an adoption_delivery order (total 0, paid) of the
    plan's bags, shipped from the plot's batch (recorded now, so the bag's trace code tells the plot's
    story). Raises AdoptionNotFound, AdoptionKgExceeded, AdoptionKgNotWholeBags, AdoptionSeasonOver and the
    delivery order's refusals; nothing is written on a refusal."""
    assert user.id is not None
    drawn = await adoptions_service.draw(session, user.id, adoption_id, data.kg)
    return await deliver(session, drawn, data.address_id, by_season_end=False)


async def deliver(
    session: AsyncSession, drawn: adoptions_service.Draw, address_id: int, *, by_season_end: bool
) -> dict[str, Any]:
    """The delivery order of a draw (its source_ref: the season end's is one per adoption, so two workers
    never ship it twice; a request's is its own), the draw recorded, and the plot's batch allocated now
    (staff shipping it later leave a recorded line as it is)."""
    source = "season-end" if by_season_end else uuid.uuid4().hex[:16]
    order = await place_delivery_order(
        session,
        user_id=drawn.adoption.user_id,
        kind=ADOPTION_DELIVERY,
        sku_id=drawn.plan.sku_id,
        quantity=drawn.bags,
        address_id=address_id,
        source_ref=f"adoption:{drawn.adoption.id}:{source}",
    )
    await adoptions_service.record_delivery(session, drawn, order.id, by_season_end=by_season_end)
    if drawn.batch_id is not None:
        await trace_shipments.record_shipment(
            session,
            order.id,
            await orders_repository.shipment_lines(session, order.id),
            [(None, drawn.plan.sku_id, drawn.batch_id)],
        )
    placed = await orders_repository.get(session, order.id)
    assert placed is not None
    return orders_service.to_read(placed).model_dump(mode="json")


def adopt_offer(plan_id: int, data: AdoptCreate) -> tuple[AdoptionOffer, OrderCreate]:
    return AdoptionOffer(plan_id, data.shares), OrderCreate(address_id=data.address_id)
