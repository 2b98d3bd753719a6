"""The subscription order kind (kind `subscription`): one order prepays every period. The standard steps with
the lines, limits, shipping and stock swapped: its one line is quantity × periods of the SKU at the list
price; shipping is one delivery's standard fee (free from the threshold on one delivery's subtotal, remote
surcharge) times the periods; no stock is taken (each delivery takes its own, on its date); the
subscription's row is written with the order, in its transaction.

It runs on the ORM store in the request's session (app.checkout.service.OrmBackend, on every database): the
subscription's row goes in through that session, so the order and the row commit together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.checkout import pipeline
from app.checkout.stores import OrmCheckoutStore
from app.config import get_settings
from app.orders.errors import QuantityLimitExceeded, TooManyUnpaidOrders
from app.orders.models import OrderKind as StoredKind
from app.subscriptions import repository
from app.subscriptions.models import Subscription, SubscriptionStatus
from app.subscriptions.schemas import SubscriptionCreate


@dataclass(slots=True)
class SubscriptionOffer:
    data: SubscriptionCreate
    subscription_id: int | None = None

    def key_fields(self) -> dict[str, Any]:
        """What the Idempotency-Key's stored request hash covers beside the order's body."""
        return {"subscription": self.data.model_dump(mode="json")}


def _offer(c: pipeline.Checkout) -> SubscriptionOffer:
    assert isinstance(c.offer, SubscriptionOffer), "a subscription checkout needs its SubscriptionOffer"
    return c.offer


async def subscription_lines(c: pipeline.Checkout) -> None:
    """One line: every period's units. The per-order cap applies to one delivery."""
    data = _offer(c).data
    limit = get_settings().order_max_quantity_per_sku
    if data.quantity > limit:
        raise QuantityLimitExceeded(f"At most {limit} of one item per delivery.", sku_ids=[data.sku_id])
    c.lines = {data.sku_id: data.quantity * data.periods}


async def check_unpaid_orders(c: pipeline.Checkout) -> None:
    """The count of unpaid orders still applies; the units do not (a subscription holds no stock)."""
    assert c.reads is not None
    max_orders = get_settings().max_unpaid_orders_per_customer
    if c.reads.unpaid_orders >= max_orders:
        raise TooManyUnpaidOrders(
            f"You have {c.reads.unpaid_orders} unpaid orders (at most {max_orders}); pay or cancel one first.",
            limit=max_orders,
        )


async def shipping_per_delivery(c: pipeline.Checkout) -> None:
    data = _offer(c).data
    one_delivery_fen = c.subtotal_fen // data.periods
    c.shipping_fen = pipeline.shipping_fee(one_delivery_fen, c.province) * data.periods


async def record_subscription(c: pipeline.Checkout) -> None:
    assert isinstance(c.store, OrmCheckoutStore), "the subscription's row goes in through the ORM store"
    offer, data = _offer(c), _offer(c).data
    subscription = Subscription(
        user_id=c.user_id,
        order_id=c.order["id"],
        sku_id=data.sku_id,
        quantity=data.quantity,
        interval=data.interval.value,
        periods=data.periods,
        address_id=data.address_id,
        total_fen=c.order["total_fen"],
        status=SubscriptionStatus.pending_payment.value,
        created_at=c.now,
        updated_at=c.now,
    )
    await repository.add(c.store.session, subscription)
    offer.subscription_id = subscription.id


def _subscription_steps() -> tuple[pipeline.Step, ...]:
    swaps: dict[pipeline.Step, tuple[pipeline.Step, ...]] = {
        pipeline.collect_lines: (subscription_lines,),
        pipeline.check_line_limits: (),
        pipeline.check_unpaid_limits: (check_unpaid_orders,),
        pipeline.shipping: (shipping_per_delivery,),
        pipeline.persist: (pipeline.persist, record_subscription),
        pipeline.reserve_stock: (),
    }
    return tuple(swapped for step in pipeline.STANDARD.steps for swapped in swaps.get(step, (step,)))


SUBSCRIPTION = pipeline.OrderKind(StoredKind.subscription.value, _subscription_steps())
