"""The custom order kind (企业定制礼盒): the standard steps with the ones a quoted gift-box order changes swapped -
its one line is the request's SKU and quantity, its address the company's contact (each recipient's parcel is
shipped apart, app.gifts.shipping), its price the quote (unit price × quantity + set-up fee, on the line), no
shipping fee (the quote includes it), no per-order quantity or unpaid-units limits (staff quoted exactly this),
and no SKU stock reserved (the boxes are made to order; an unpaid cancel releases the request instead:
app.gifts.service.give_back_orders). It waits CUSTOM_PAY_TIMEOUT_MINUTES for payment (a bank transfer takes
days). Placed by `place_custom_order` under an Idempotency-Key of its own per acceptance, so two acceptances
at once place one order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import repository as catalog_repository
from app.checkout import pipeline
from app.checkout import service as checkout_service
from app.checkout.stores import CheckoutAddress, CheckoutSku
from app.config import get_settings
from app.gifts.service import AcceptTerms
from app.kit.money import format_yuan
from app.orders.schemas import OrderCreate
from app.users.models import User

NO_ADDRESS_ID = 9_223_372_036_854_775_807  # the order's address is the request's contact, not a saved one


@dataclass(slots=True)
class CustomOffer:
    terms: AcceptTerms
    sku: CheckoutSku

    def key_fields(self) -> dict[str, Any]:
        t = self.terms
        return {
            "custom_request_id": t.request_id,
            "accept_no": t.accept_no,
            "unit_price_fen": t.unit_price_fen,
            "setup_fee_fen": t.setup_fee_fen,
        }


def _offer(c: pipeline.Checkout) -> CustomOffer:
    assert isinstance(c.offer, CustomOffer), "a custom checkout needs its CustomOffer"
    return c.offer


async def custom_lines(c: pipeline.Checkout) -> None:
    terms = _offer(c).terms
    c.lines = {terms.sku_id: terms.quantity}


async def custom_reads(c: pipeline.Checkout) -> None:
    """pipeline.read locked the customer's row and checked the token; the address is the request's contact
    and the SKU as the request names it."""
    assert c.reads is not None
    offer = _offer(c)
    contact = offer.terms.contact
    address = CheckoutAddress(
        contact["recipient"],
        contact["phone"],
        contact["province"],
        contact["city"],
        contact["district"],
        contact["detail"],
        False,
    )
    c.reads = c.reads._replace(address=address, skus={offer.sku.id: offer.sku})


async def custom_price(c: pipeline.Checkout) -> None:
    await pipeline.price(c)
    terms = _offer(c).terms
    (item,) = c.items
    item["unit_price_fen"] = terms.unit_price_fen
    item["subtotal_fen"] = terms.unit_price_fen * terms.quantity + terms.setup_fee_fen
    c.subtotal_fen = item["subtotal_fen"]


async def no_shipping_fee(c: pipeline.Checkout) -> None:
    c.shipping_fen = 0


async def send_without_stock(c: pipeline.Checkout) -> None:
    """Where the standard kind takes stock: no stock is taken, but the store's queued writes (the lean store
    sends the outbox row, the stats and the key's answer with the stock UPDATE, and commits with them) go."""
    assert await c.store.take_stock([]) == []


def _custom_steps() -> tuple[pipeline.Step, ...]:
    swaps: dict[pipeline.Step, tuple[pipeline.Step, ...]] = {
        pipeline.collect_lines: (custom_lines,),
        pipeline.check_line_limits: (),
        pipeline.read: (pipeline.read, custom_reads),
        pipeline.check_unpaid_limits: (),
        pipeline.price: (custom_price,),
        pipeline.shipping: (no_shipping_fee,),
        pipeline.reserve_stock: (send_without_stock,),
    }
    return tuple(swapped for step in pipeline.STANDARD.steps for swapped in swaps.get(step, (step,)))


def custom_pay_timeout() -> float:
    return get_settings().custom_pay_timeout_minutes


CUSTOM = pipeline.OrderKind("custom", _custom_steps(), pay_timeout_minutes=custom_pay_timeout)


async def place_custom_order(
    session: AsyncSession, user: User, terms: AcceptTerms
) -> checkout_service.PlacedOrder:
    """The accepted quote's order, under the key `custom-request-<id>-<acceptance>`: a second acceptance
    running at the same time or after gets the first one's order (replayed) or waits for it (409)."""
    sku = await _sku(session, terms.sku_id)
    note = f"定制需求 #{terms.request_id}，含制版费 {format_yuan(terms.setup_fee_fen)}"
    return await checkout_service.place_order(
        session,
        user,
        OrderCreate(address_id=NO_ADDRESS_ID, note=note),
        idempotency_key=f"custom-request-{terms.request_id}-{terms.accept_no}",
        kind=CUSTOM,
        offer=CustomOffer(terms, sku),
    )


async def _sku(session: AsyncSession, sku_id: int) -> CheckoutSku:
    """The request's SKU as checkout reads SKUs (an SKU since withdrawn is refused by check_on_sale)."""
    sku = await catalog_repository.get_sku(session, sku_id)
    assert sku is not None  # skus are never deleted (orders and requests name them)
    product = await catalog_repository.get_product(session, sku.product_id)
    assert product is not None
    return CheckoutSku(
        sku.id, sku.name, sku.price_fen, sku.is_active, product.id, product.name, product.status
    )
