"""The pre-sale order kind (预售): the standard steps with four swapped - the pre-sale's line, the pre-sale's
own checks after the read, its price (deposit + balance a unit), and units taken from the pre-sale's quota
instead of SKU stock (the stock is taken when the order ships: app.presales.service.check_ship). The order's
total is the whole price with the shipping; it is paid in two payments (app.presales.payments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.checkout import pipeline
from app.db import utcnow
from app.presales import service as presales_service
from app.presales.models import Presale


@dataclass(slots=True)
class PresaleOffer:
    """A request for a pre-sale's deposit order, as the pre-sale steps see it."""

    presale_id: int
    quantity: int
    presale: Presale | None = None

    def key_fields(self) -> dict[str, Any]:
        """What the Idempotency-Key's stored request hash covers beside the order's body."""
        return {"presale_id": self.presale_id, "quantity": self.quantity}


def _offer(c: pipeline.Checkout) -> PresaleOffer:
    assert isinstance(c.offer, PresaleOffer), "a pre-sale checkout needs its PresaleOffer"
    return c.offer


async def presale_lines(c: pipeline.Checkout) -> None:
    """The pre-sale (unknown: 404) and the order's one line, its SKU."""
    offer = _offer(c)
    offer.presale = await presales_service.get_or_raise(c.store.session, offer.presale_id)
    c.lines = {offer.presale.sku_id: offer.quantity}


async def check_presale(c: pipeline.Checkout) -> None:
    """Still taking deposits, enough quota left (the quota's UPDATE decides a race, last)."""
    offer = _offer(c)
    assert offer.presale is not None
    presales_service.check_order(offer.presale, offer.quantity, utcnow())


async def presale_price(c: pipeline.Checkout) -> None:
    """The line at deposit + balance a unit (no deposit bonus: the deposit counts at its face value)."""
    await pipeline.price(c)
    presale = _offer(c).presale
    assert presale is not None
    unit = presale.deposit_fen + presale.balance_fen
    for item in c.items:
        item["unit_price_fen"] = unit
        item["subtotal_fen"] = unit * item["quantity"]
    c.subtotal_fen = sum(item["subtotal_fen"] for item in c.items)


async def reserve_from_presale(c: pipeline.Checkout) -> None:
    """The units come from the pre-sale's quota, last, with the share that records the two amounts."""
    offer = _offer(c)
    presale = offer.presale
    assert presale is not None and c.now is not None
    share = {
        "presale_id": offer.presale_id,
        "user_id": c.user_id,
        "order_id": c.order["id"],
        "quantity": offer.quantity,
        "deposit_fen": presale.deposit_fen * offer.quantity,
        "balance_fen": presale.balance_fen * offer.quantity,
        "created_at": c.now,
    }
    if not await c.store.take_from_presale(offer.presale_id, offer.quantity, share):
        raise presales_service.sold_out()


def _presale_steps() -> tuple[pipeline.Step, ...]:
    """pipeline.STANDARD's steps with the ones a pre-sale changes swapped."""
    swaps: dict[pipeline.Step, tuple[pipeline.Step, ...]] = {
        pipeline.collect_lines: (presale_lines,),
        pipeline.read: (pipeline.read, check_presale),
        pipeline.price: (presale_price,),
        pipeline.reserve_stock: (reserve_from_presale,),
    }
    return tuple(swapped for step in pipeline.STANDARD.steps for swapped in swaps.get(step, (step,)))


PRESALE = pipeline.OrderKind("presale", _presale_steps())
