"""The flash-sale order kind (秒杀): the standard steps with four swapped - the Redis gate and the sale's lines, the
database's own checks of the sale, the sale's price, and units reserved from the sale instead of SKU stock
(app.flash_sales has the sale itself; docs/architecture.md "Where a new order kind plugs in")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.checkout import pipeline
from app.config import get_settings
from app.errors import AppError
from app.flash_sales import gate as flash_gate
from app.flash_sales import service as flash_service
from app.flash_sales.errors import FlashSaleLimitReached, FlashSaleNotFound, SoldOut


@dataclass(slots=True)
class FlashSaleOffer:
    """A request to buy from a flash sale, as the flash-sale steps see it. It outlives the service's retries
    of the pipeline (deadlocks, a key row that went), so the Redis gate is taken once per request; the
    service gives back what the gate took when no order of this request's own is placed."""

    sale_id: int
    quantity: int
    gate: flash_gate.Gate | None = None
    sale: flash_service.SaleState | None = None
    # A refusal of a keyed request that may be the repeat of a placed one: its key is looked at first.
    maybe_repeat: bool = False

    async def take_gate(self, user_id: int, idempotency_key: str | None = None) -> AppError | None:
        """Take the Redis gate once for this request; the refusal it stands for, if any."""
        if self.gate is None:
            self.gate, self.maybe_repeat = await flash_gate.take_keyed(
                self.sale_id, user_id, self.quantity, flash_service.now(), idempotency_key
            )
        return flash_service.gate_refusal(self.gate)

    def key_fields(self) -> dict[str, Any]:
        """What the Idempotency-Key's stored request hash covers beside the order's body."""
        return {"flash_sale_id": self.sale_id, "quantity": self.quantity}

    async def give_back_gate(self, user_id: int, refusal: BaseException | None) -> None:
        """No order of this request's own: what the gate took goes back, except where the database refused
        what the gate had let through (the gate was wrong there; keeping it moves it toward the record)."""
        if self.gate is not flash_gate.Gate.TAKEN:
            return
        self.gate = None
        units = 0 if isinstance(refusal, SoldOut) else self.quantity
        held = 0 if isinstance(refusal, FlashSaleLimitReached) else self.quantity
        await flash_gate.give_back(self.sale_id, user_id, units=units, held=held)


def _offer(c: pipeline.Checkout) -> FlashSaleOffer:
    assert isinstance(c.offer, FlashSaleOffer), "a flash-sale checkout needs its FlashSaleOffer"
    return c.offer


async def flash_sale_gate(c: pipeline.Checkout) -> None:
    """The Redis gate, before the database: the window, the customer's limit and the quantity in one atomic
    script (app.flash_sales.gate). A refusal ends the request here, after one look at its Idempotency-Key
    (a repeat of a request that was placed gets that request's answer, not the refusal; the store raises
    for it). Without Redis, or without a gate for this sale, the database decides alone."""
    refusal = await _offer(c).take_gate(c.user_id)
    if refusal is not None:
        await c.store.check_key()
        raise refusal


async def flash_sale_lines(c: pipeline.Checkout) -> None:
    """The sale as the database has it and what the customer holds of it, pipeline.read after locking the customer's
    row (their purchases queue there, so the count is exact), and the order's one line: the sale's SKU."""
    offer = _offer(c)
    offer.sale = await c.store.read_flash_sale(c.user_id, offer.sale_id)
    if offer.sale is None:
        raise FlashSaleNotFound("No such flash sale.")
    c.lines = {offer.sale.sku_id: offer.quantity}


async def check_flash_sale(c: pipeline.Checkout) -> None:
    """The database's word: running, within the customer's limit, enough left."""
    offer = _offer(c)
    assert offer.sale is not None
    flash_service.check_purchase(offer.sale, offer.quantity, flash_service.now())


async def flash_sale_price(c: pipeline.Checkout) -> None:
    """The line at the sale's price."""
    await pipeline.price(c)
    sale = _offer(c).sale
    assert sale is not None
    for item in c.items:
        item["unit_price_fen"] = sale.price_fen
        item["subtotal_fen"] = sale.price_fen * item["quantity"]
    c.subtotal_fen = sum(item["subtotal_fen"] for item in c.items)


async def reserve_from_flash_sale(c: pipeline.Checkout) -> None:
    """The units come from the sale (taken from the SKU's stock when it was created), last, with the
    purchase that counts toward the customer's limit and that a cancellation gives back."""
    offer = _offer(c)
    assert c.now is not None
    purchase = {
        "sale_id": offer.sale_id,
        "user_id": c.user_id,
        "order_id": c.order["id"],
        "quantity": offer.quantity,
        "created_at": c.now,
    }
    if not await c.store.take_from_flash_sale(offer.sale_id, offer.quantity, purchase):
        raise flash_service.sold_out()


def _flash_sale_steps() -> tuple[pipeline.Step, ...]:
    """pipeline.STANDARD's steps with the ones a flash sale changes swapped (so a step added for every
    kind, such as the coupons' hooks, is a flash sale's too)."""
    swaps: dict[pipeline.Step, tuple[pipeline.Step, ...]] = {
        pipeline.collect_lines: (flash_sale_gate, flash_sale_lines),
        pipeline.read: (pipeline.read, check_flash_sale),
        pipeline.price: (flash_sale_price,),
        pipeline.reserve_stock: (reserve_from_flash_sale,),
    }
    return tuple(swapped for step in pipeline.STANDARD.steps for swapped in swaps.get(step, (step,)))


def flash_sale_pay_timeout() -> float:
    """FLASH_SALE_PAY_TIMEOUT_MINUTES: a flash order's units are held for a short while only."""
    return get_settings().flash_sale_pay_timeout_minutes


FLASH_SALE = pipeline.OrderKind("flash_sale", _flash_sale_steps(), pay_timeout_minutes=flash_sale_pay_timeout)
