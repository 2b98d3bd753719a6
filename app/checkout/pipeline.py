"""The checkout pipeline: a kind of order is data and a list of steps, run in order on one store.

    lines → limits → promotions (resolve) → reads → address → on sale → sellable (GI) → unpaid limits
          → price → promotions (apply) → shipping → persist (order, lines, outbox, Idempotency-Key answer,
            cart) → reserve stock → answer

Each step takes the `Checkout` being built and either fills in more of it or raises an AppError (a 4xx
problem; the caller rolls the transaction back, so a refusal writes nothing). The order of the checks is
part of the API: a request with several faults is refused for the first one found here.

A new kind of order (flash sale, pre-sale, subscription...) is a new `OrderKind`: the same list with the
steps it changes swapped (its price, its stock or quota to reserve, its pay deadline) or added (a coupon
lookup fills `resolve_promotions` and `apply_promotions` for every kind). It never gets a path of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app import events
from app.catalog.models import ProductStatus
from app.checkout.stores import CheckoutCoupon, CheckoutReads, CheckoutStore
from app.config import get_settings
from app.coupons import discount
from app.coupons import service as coupons_service
from app.coupons.errors import CouponNotApplicable
from app.db import utcnow
from app.kit import metrics, regions
from app.kit.time import SHOP_TZ
from app.orders import models as order_models
from app.orders import service as orders_service
from app.orders.errors import (
    CartEmpty,
    CouponNotFound,
    OutOfStock,
    QuantityLimitExceeded,
    SkuUnavailable,
    TooManyUnpaidOrders,
)
from app.orders.models import OrderStatus
from app.orders.schemas import OrderCreate, OrderRead
from app.traceability import certificates as trace_certificates
from app.users import revocation
from app.users.errors import AddressNeedsCorrection, AddressNotFound


class CallerRefused(Exception):
    """The access token of a `CallerCheck` no longer stands (revoked, its user disabled or gone), as the
    customer's locked row says. Nothing was written (the caller rolls back); the answer is the route's 401."""


@dataclass(slots=True)
class CallerCheck:
    """A verified access token's claims whose revocation (app.users.revocation) is checked inside the
    checkout's transaction, against the customer's row the `read` step locks: no round trip of its own, and
    the state is the committed one (a revocation that committed before the lock is always seen). `accepted`
    stays None until a check ran (a refusal or a replay answered before the read must be checked apart)."""

    claims: dict[str, Any]
    accepted: bool | None = None


@dataclass(slots=True)
class Checkout:
    """One checkout as the steps build it."""

    kind: OrderKind
    store: CheckoutStore
    user_id: int
    data: OrderCreate
    lines: dict[int, int] = field(default_factory=dict)  # sku_id → quantity
    from_cart: bool = False
    reads: CheckoutReads | None = None
    coupon: CheckoutCoupon | None = None
    province: str = ""  # canonical (app.kit.regions)
    now: datetime | None = None
    subtotal_fen: int = 0
    discount_fen: int = 0
    shipping_fen: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)  # stores.ITEM_FIELDS, then id and order_id
    order: dict[str, Any] = field(default_factory=dict)  # stores.ORDER_FIELDS, then id
    answer: dict[str, Any] | None = None
    # The kind's own request, kept across the service's retries (a flash sale's FlashSaleOffer).
    offer: Any = None
    caller: CallerCheck | None = None


Step = Callable[[Checkout], Awaitable[None]]


def list_price_pay_timeout() -> float:
    """ORDER_PAY_TIMEOUT_MINUTES: how long an ordinary order waits for its payment."""
    return get_settings().order_pay_timeout_minutes


@dataclass(frozen=True, slots=True)
class OrderKind:
    """A kind of order: its name (an `app.orders.models.OrderKind` value, stored on the order), its steps,
    and how many minutes it waits for payment (a flash sale waits less than an ordinary order)."""

    name: str
    steps: tuple[Step, ...]
    pay_timeout_minutes: Callable[[], float] = list_price_pay_timeout

    def __post_init__(self) -> None:
        order_models.OrderKind(self.name)  # a ValueError at import for a kind the orders table does not know


async def run(
    kind: OrderKind,
    store: CheckoutStore,
    user_id: int,
    data: OrderCreate,
    caller: CallerCheck | None = None,
    offer: Any = None,
) -> dict[str, Any]:
    """Every step of `kind` on `store`, inside the transaction the caller owns; the answer (the order).
    `caller`: the access token still to be checked against the customer's row (raises CallerRefused).
    `offer`: what the kind's own steps need beyond the order's body (a flash sale's FlashSaleOffer)."""
    checkout = Checkout(kind, store, user_id, data, caller=caller, offer=offer)
    for step in kind.steps:
        await step(checkout)
    assert checkout.answer is not None, f"order kind {kind.name} has no step that answers"
    metrics.ORDERS_CREATED.labels(kind.name).inc()
    return checkout.answer


# ---------------------------------------------------------------------------------------------- the steps


async def collect_lines(c: Checkout) -> None:
    """The named items, or (no `items`) the whole cart, which is emptied with the order."""
    if c.data.items is None:
        c.from_cart = True
        c.lines = await c.store.cart_lines(c.user_id)
        if not c.lines:
            raise CartEmpty("The cart is empty; add something first or name the items.")
    else:
        c.lines = {line.sku_id: line.quantity for line in c.data.items}


async def check_line_limits(c: Checkout) -> None:
    settings = get_settings()
    if len(c.lines) > settings.order_max_lines:
        raise QuantityLimitExceeded(f"At most {settings.order_max_lines} different items per order.")
    limit = settings.order_max_quantity_per_sku
    too_many = sorted(sku_id for sku_id, qty in c.lines.items() if qty > limit)
    if too_many:
        raise QuantityLimitExceeded(f"At most {limit} of one item per order.", sku_ids=too_many)


async def resolve_promotions(c: Checkout) -> None:
    """The hook where promotions are looked up, before anything is locked: the customer's coupon named by
    coupon_code (codes are case-insensitive). Unknown, or another customer's: coupon_not_found."""
    if not c.data.coupon_code:
        return
    code = coupons_service.normalise_code(c.data.coupon_code)
    c.coupon = await c.store.find_coupon(c.user_id, code, c.lines)
    if c.coupon is None:
        raise CouponNotFound("No such coupon.", coupon_code=c.data.coupon_code)


async def read(c: Checkout) -> None:
    """Everything checkout reads, under the lock on the customer's row; the caller's token is checked
    against that row before any refusal the reads lead to (the route refuses a revoked token before all
    else; a refusal by an earlier step leaves `accepted` None, and app.checkout.fast_path checks apart)."""
    c.reads = await c.store.read_for_checkout(c.user_id, c.data.address_id, c.lines)
    if c.caller is not None:
        c.caller.accepted = revocation.accepts(c.reads.customer, c.caller.claims)
        if not c.caller.accepted:
            raise CallerRefused


async def check_address(c: Checkout) -> None:
    """The address is the customer's, and its province is one the shipping fee knows. An address whose
    province could not be mapped when provinces began to be checked is refused until the customer chooses
    it again (so is any row that slipped past)."""
    assert c.reads is not None
    address = c.reads.address
    if address is None:
        raise AddressNotFound("No such address.")
    province = regions.canonical(address.province)
    if address.needs_correction or province is None:
        raise AddressNeedsCorrection(
            "This address's province is not recognised; choose it again from the list before checking out.",
            address_id=c.data.address_id,
        )
    c.province = province


async def check_on_sale(c: Checkout) -> None:
    assert c.reads is not None
    skus = c.reads.skus
    unavailable = sorted(
        sku_id
        for sku_id in c.lines
        if sku_id not in skus
        or not skus[sku_id].is_active
        or skus[sku_id].product_status != ProductStatus.published.value
    )
    if unavailable:
        raise SkuUnavailable("Some items are not on sale.", sku_ids=unavailable)


async def check_sellable(c: Checkout) -> None:
    """BLOCK_SALE_ON_EXPIRED_GI: refuse products whose geographical-indication certificates all expired
    (traceability decides, reading through the request's session)."""
    if not get_settings().block_sale_on_expired_gi:
        return
    assert c.reads is not None
    product_ids = {c.reads.skus[sku_id].product_id for sku_id in c.lines}
    await trace_certificates.assert_sellable(c.store.session, product_ids)


async def check_unpaid_limits(c: Checkout) -> None:
    """One customer may not hold all the stock hostage with orders left unpaid (each reserves its stock until
    the pay deadline). The reads were counted under the lock on the customer's row, in this transaction."""
    assert c.reads is not None
    settings = get_settings()
    max_orders = settings.max_unpaid_orders_per_customer
    if c.reads.unpaid_orders >= max_orders:
        raise TooManyUnpaidOrders(
            f"You have {c.reads.unpaid_orders} unpaid orders (at most {max_orders}); pay or cancel one first.",
            limit=max_orders,
        )
    max_units = settings.max_unpaid_units_per_sku
    units = c.reads.unpaid_units
    over = sorted(sku_id for sku_id, qty in c.lines.items() if units.get(sku_id, 0) + qty > max_units)
    if over:
        raise TooManyUnpaidOrders(
            f"At most {max_units} of one item may wait for payment across your unpaid orders; pay or cancel"
            " one first.",
            limit=max_units,
            sku_ids=over,
        )


async def price(c: Checkout) -> None:
    """Each line at its SKU's list price, in ascending SKU order (the order stock is taken in)."""
    assert c.reads is not None
    skus = c.reads.skus
    c.now = utcnow()
    c.items = [
        {
            "sku_id": sku_id,
            "product_id": skus[sku_id].product_id,
            "name": f"{skus[sku_id].product_name} {skus[sku_id].name}"[:200],
            "sku_name": skus[sku_id].name,
            "quantity": qty,
            "unit_price_fen": skus[sku_id].price_fen,
            "subtotal_fen": skus[sku_id].price_fen * qty,
            "discount_fen": 0,
        }
        for sku_id, qty in sorted(c.lines.items())
    ]
    c.subtotal_fen = sum(item["subtotal_fen"] for item in c.items)


async def apply_promotions(c: Checkout) -> None:
    """The hook where what `resolve_promotions` found takes money off the priced lines: the coupon's
    discount over the lines it covers (app.coupons.discount), split over them into each line's
    discount_fen (0 on the others, as `price` left them). Shipping is reckoned afterwards on the subtotal
    before the discount."""
    c.discount_fen = 0
    coupon = c.coupon
    if coupon is None:
        return
    assert c.now is not None
    refusal = _coupon_refusal(coupon, c.now)
    eligible = [
        item
        for item in c.items
        if coupon.eligible_sku_ids is None or item["sku_id"] in coupon.eligible_sku_ids
    ]
    base = sum(item["subtotal_fen"] for item in eligible)
    if refusal is None and not eligible:
        refusal = ("out_of_scope", "This coupon does not cover any item of the order.")
    off = discount.discount_fen(coupon.terms, base)
    if refusal is None and off == 0:
        refusal = (
            "below_threshold",
            f"This coupon needs {coupon.terms.threshold_fen} fen of eligible items; the order has {base}.",
        )
    if refusal is not None:
        reason, detail = refusal
        raise CouponNotApplicable(detail, reason=reason, coupon_code=c.data.coupon_code)
    for item, share in zip(eligible, discount.split(off, [i["subtotal_fen"] for i in eligible]), strict=True):
        item["discount_fen"] = share
    c.discount_fen = off


def _coupon_refusal(coupon: CheckoutCoupon, now: datetime) -> tuple[str, str] | None:
    if coupon.status != "unused":
        return "used", "This coupon has been used."
    if now < coupon.starts_at:
        return "not_started", "This coupon cannot be used yet."
    if now >= coupon.expires_at:
        return "expired", "This coupon has expired."
    return None


async def shipping(c: Checkout) -> None:
    c.shipping_fen = shipping_fee(c.subtotal_fen, c.province)


async def persist(c: Checkout) -> None:
    """The order and its lines (the order counted by the dashboard's fold later: app.orders.stats), the
    coupon used by it, the order.created event, the answer under the Idempotency-Key, and the cart emptied
    of what was ordered: everything but the stock, which is taken
    last (the hot rows stay locked only from there to the commit)."""
    assert c.reads is not None and c.reads.address is not None and c.now is not None
    assert c.caller is None or c.caller.accepted, "an order is written only for a token that stands"
    address, now = c.reads.address, c.now
    c.order = {
        "order_no": new_order_no(now),
        "kind": c.kind.name,
        "user_id": c.user_id,
        "status": OrderStatus.pending_payment.value,
        "subtotal_fen": c.subtotal_fen,
        "shipping_fen": c.shipping_fen,
        "discount_fen": c.discount_fen,
        "total_fen": c.subtotal_fen + c.shipping_fen - c.discount_fen,
        "coupon_code": c.coupon.code if c.coupon is not None else None,
        "note": c.data.note,
        "address": {
            "recipient": address.recipient,
            "phone": address.phone,
            "province": c.province,
            "city": address.city,
            "district": address.district,
            "detail": address.detail,
        },
        "recipient_phone": address.phone,
        "pay_deadline": now + timedelta(minutes=c.kind.pay_timeout_minutes()),
        "created_at": now,
        "updated_at": now,
        # The order is its own "placed" figure on the dashboard until the worker's fold counts it.
        "stats_counted": False,
    }
    c.order["id"], item_ids = await c.store.insert_order_and_items(c.order, c.items)
    for item, item_id in zip(c.items, item_ids, strict=True):
        item.update(id=item_id, order_id=c.order["id"])
    if c.coupon is not None and not await c.store.use_coupon(c.coupon.claim_id, c.order["id"]):
        # A parallel checkout of this customer used it after we read it: only one order gets a coupon.
        raise CouponNotApplicable("This coupon has been used.", reason="used", coupon_code=c.data.coupon_code)
    await c.store.emit(order_created_event(c))
    c.answer = answer(c.order, c.items)
    await c.store.record_answer(c.answer)
    if c.from_cart:
        await c.store.remove_cart_lines(c.user_id, list(c.lines))


async def reserve_stock(c: Checkout) -> None:
    short = await c.store.take_stock(sorted(c.lines.items()))
    if short:
        raise OutOfStock("Not enough stock for some items; nothing was reserved.", sku_ids=short)


STANDARD = OrderKind(
    "standard",
    (
        collect_lines,
        check_line_limits,
        resolve_promotions,
        read,
        check_address,
        check_on_sale,
        check_sellable,
        check_unpaid_limits,
        price,
        apply_promotions,
        shipping,
        persist,
        reserve_stock,
    ),
)


# ---------------------------------------------------------------------------------------------- helpers


def shipping_fee(subtotal_fen: int, province: str) -> int:
    """Free from the threshold on, otherwise a flat fee; remote provinces always add a surcharge. `province`
    is a canonical name (app.kit.regions), as is every name in SHIPPING_REMOTE_PROVINCES."""
    settings = get_settings()
    fee = 0 if subtotal_fen >= settings.shipping_free_threshold_fen else settings.shipping_flat_fee_fen
    if province in settings.shipping_remote_provinces:
        fee += settings.shipping_remote_surcharge_fen
    return fee


def new_order_no(now: datetime) -> str:
    """Date (Beijing) + 12 random digits: readable on the phone, not guessable from a neighbour's number."""
    return now.astimezone(SHOP_TZ).strftime("%Y%m%d") + f"{secrets.randbelow(10**12):012d}"


def order_created_event(c: Checkout) -> dict[str, Any]:
    order = c.order
    return events.outbox_row(
        "order.created",
        {
            "order_id": order["id"],
            "order_no": order["order_no"],
            "user_id": order["user_id"],
            "items": [
                {k: i[k] for k in ("sku_id", "product_id", "quantity", "unit_price_fen")} for i in c.items
            ],
            "subtotal_fen": order["subtotal_fen"],
            "shipping_fen": order["shipping_fen"],
            "discount_fen": order["discount_fen"],
            "total_fen": order["total_fen"],
            "pay_deadline": order["pay_deadline"].isoformat(),
            "created_at": order["created_at"].isoformat(),
        },
        subject=f"order/{order['id']}",
    )


def answer(order: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The order as GET /api/orders/{id} will show it (its JSON form)."""
    read_ = OrderRead.model_validate(
        {
            **order,
            "items": items,
            "paid_at": None,
            "shipped_at": None,
            "completed_at": None,
            "cancelled_at": None,
            "refunded_at": None,
            "refund_reason": None,
            "shipment": None,
            "history": [orders_service.placed_entry(order["user_id"], order["created_at"])],
        }
    )
    return read_.model_dump(mode="json")
