"""The prepaid delivery order: what a subscription's period or an adoption's share sends out.

It is an ordinary order on the one pipeline (docs/architecture.md "Where a new order kind plugs in"): the
standard steps with its price swapped for nothing (`total_fen` 0: the goods were paid for by an earlier
order), no pay deadline to wait for (it is paid as it is placed, through orders' own `mark_paid`, with its
history row and `order.paid` event), SKU stock taken like a standard order's (`out_of_stock` as usual), the
address copied onto the order. Each delivery names its source (`source_ref`, unique in `delivery_orders`),
so two workers can never place the same delivery twice.

It runs the ORM store in the caller's session on every database (a job's or a request's unit of work, not
the hot path), inside a savepoint: a refusal leaves nothing behind and the caller's transaction carries on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.checkout import pipeline
from app.checkout.models import DeliveryOrder
from app.checkout.stores import OrmCheckoutStore
from app.errors import Conflict
from app.orders import payment_moves
from app.orders import repository as orders_repository
from app.orders.errors import SkuUnavailable
from app.orders.models import Order
from app.orders.models import OrderKind as StoredKind
from app.orders.schemas import OrderCreate, OrderLineIn


class DeliveryAlreadyPlaced(Conflict):
    """Another transaction placed the delivery with this source_ref first (its unique key)."""

    code = "delivery_already_placed"
    title = "Delivery already placed"


@dataclass(frozen=True, slots=True)
class DeliveryOffer:
    source_ref: str


def _offer(c: pipeline.Checkout) -> DeliveryOffer:
    assert isinstance(c.offer, DeliveryOffer), "a delivery checkout needs its DeliveryOffer"
    return c.offer


async def check_sku_exists(c: pipeline.Checkout) -> None:
    """The goods were paid for already: a SKU taken off sale since is still delivered; one that is gone
    cannot be."""
    assert c.reads is not None
    missing = sorted(sku_id for sku_id in c.lines if sku_id not in c.reads.skus)
    if missing:
        raise SkuUnavailable("Some items no longer exist.", sku_ids=missing)


async def prepaid_price(c: pipeline.Checkout) -> None:
    """The lines as the SKUs name them, at nothing: the money came with the earlier order."""
    await pipeline.price(c)
    for item in c.items:
        item["unit_price_fen"] = 0
        item["subtotal_fen"] = 0
    c.subtotal_fen = 0


async def no_shipping_fee(c: pipeline.Checkout) -> None:
    c.shipping_fen = 0


async def record_source(c: pipeline.Checkout) -> None:
    """The delivery's source, under its unique key, before any stock is locked: the second of two workers
    placing the same delivery stops here."""
    c.store.session.add(
        DeliveryOrder(source_ref=_offer(c).source_ref, order_id=c.order["id"], created_at=c.now)
    )
    try:
        await c.store.session.flush()
    except IntegrityError:
        raise DeliveryAlreadyPlaced(
            "This delivery was already placed.", source_ref=_offer(c).source_ref
        ) from None


async def paid_on_placing(c: pipeline.Checkout) -> None:
    """Paid as placed, by orders' own move (history row, `order.paid`, the product's sales)."""
    assert c.now is not None
    await payment_moves.mark_paid(c.store.session, c.order["id"], amount_fen=0, paid_at=c.now)


def _delivery_steps() -> tuple[pipeline.Step, ...]:
    swaps: dict[pipeline.Step, tuple[pipeline.Step, ...]] = {
        pipeline.check_line_limits: (),  # the quantity was settled by the order that paid for it
        pipeline.resolve_promotions: (),
        pipeline.check_on_sale: (check_sku_exists,),
        pipeline.check_sellable: (),
        pipeline.check_unpaid_limits: (),
        pipeline.price: (prepaid_price,),
        pipeline.apply_promotions: (),
        pipeline.shipping: (no_shipping_fee,),
        pipeline.persist: (pipeline.persist, record_source),
        pipeline.reserve_stock: (pipeline.reserve_stock, paid_on_placing),
    }
    return tuple(swapped for step in pipeline.STANDARD.steps for swapped in swaps.get(step, (step,)))


def _no_wait() -> float:
    return 0.0


SUBSCRIPTION_DELIVERY = pipeline.OrderKind(
    StoredKind.subscription_delivery.value, _delivery_steps(), pay_timeout_minutes=_no_wait
)
ADOPTION_DELIVERY = pipeline.OrderKind(
    StoredKind.adoption_delivery.value, _delivery_steps(), pay_timeout_minutes=_no_wait
)


async def find(session: AsyncSession, source_ref: str) -> int | None:
    """The id of the delivery order placed for `source_ref`, if any."""
    return (
        await session.execute(select(DeliveryOrder.order_id).where(DeliveryOrder.source_ref == source_ref))
    ).scalar_one_or_none()


async def place_delivery_order(
    session: AsyncSession,
    *,
    user_id: int,
    kind: pipeline.OrderKind,
    sku_id: int,
    quantity: int,
    address_id: int,
    source_ref: str,
) -> Order:
    """Place the delivery of `quantity` × `sku_id` to the customer's `address_id`, paid, for `source_ref`.

    Raises (and then leaves nothing: the pipeline ran in a savepoint) what the standard pipeline raises
    (`address_not_found`, `address_needs_correction`, `out_of_stock`), `sku_unavailable` for a SKU that no
    longer exists, and DeliveryAlreadyPlaced when `source_ref` has its order already."""
    assert kind.name in (StoredKind.subscription_delivery, StoredKind.adoption_delivery), kind.name
    data = OrderCreate(address_id=address_id, items=[OrderLineIn(sku_id=sku_id, quantity=quantity)])
    async with session.begin_nested():
        answer = await pipeline.run(
            kind, OrmCheckoutStore(session), user_id, data, offer=DeliveryOffer(source_ref)
        )
    order = await orders_repository.get(session, answer["id"])
    assert order is not None
    return order
