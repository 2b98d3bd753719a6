"""Checkout, order actions for customers and staff, and the API the payments domain calls.

Status changes go through `app.orders.state.transition` only. Stock moves with conditional UPDATEs in
ascending SKU id order (so overlapping multi-line orders never wait on each other in a cycle) and goes back
at most once per order (`stock_released_at`, claimed by a conditional UPDATE).
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
import logging
import random
import secrets
import weakref
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.cart import service as cart_service
from app.catalog.models import ProductStatus
from app.config import get_settings
from app.db import utcnow
from app.kit import leandb, regions
from app.kit.money import fen_to_yuan
from app.kit.time import SHOP_TZ, format_shop_time, shop_day_start
from app.orders import idempotency, repository
from app.orders.errors import (
    AmountMismatch,
    CartEmpty,
    CouponNotFound,
    InvalidOrderState,
    OrderNotFound,
    OutOfStock,
    QuantityLimitExceeded,
    RefundRequestLimitReached,
    RequestInProgress,
    SkuUnavailable,
    TooManyUnpaidOrders,
)
from app.orders.models import Order, OrderHistory, OrderItem, OrderStatus
from app.orders.schemas import OrderCreate, OrderRead, RefundReject, ShipLine, ShipRequest
from app.orders.state import SYSTEM, Actor, transition
from app.users.errors import AddressNeedsCorrection, AddressNotFound
from app.users.models import Principal, User

log = logging.getLogger("daoxiang.orders")

S = OrderStatus
# MariaDB: 1213 deadlock (the transaction was rolled back), 1205 lock wait timeout.
RETRYABLE_DB_ERRORS = {1213, 1205}
CHECKOUT_ATTEMPTS = 4
CHECKOUT_CONCURRENCY = 8


# ---------------------------------------------------------------------------------------------- reading


def to_read(order: Order) -> OrderRead:
    """The customer's view of an order; `items` and `history` must be loaded."""
    return OrderRead.model_validate(_read_dict(order, order.items, order.history))


def _read_dict(order: Order, items: Sequence[OrderItem], history: Sequence[OrderHistory]) -> dict[str, Any]:
    return {
        "id": order.id,
        "order_no": order.order_no,
        "status": order.status,
        "items": items,
        "subtotal_fen": order.subtotal_fen,
        "shipping_fen": order.shipping_fen,
        "discount_fen": order.discount_fen,
        "total_fen": order.total_fen,
        "coupon_code": order.coupon_code,
        "note": order.note,
        "address": order.address,
        "pay_deadline": order.pay_deadline,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "shipped_at": order.shipped_at,
        "completed_at": order.completed_at,
        "cancelled_at": order.cancelled_at,
        "refunded_at": order.refunded_at,
        "refund_reason": order.refund_reason,
        "shipment": (
            {"carrier": order.carrier, "tracking_no": order.tracking_no}
            if order.carrier is not None
            else None
        ),
        "history": [
            _placed_entry(order.user_id, order.created_at),
            *(
                {
                    "from_status": h.from_status,
                    "to_status": h.to_status,
                    "actor_id": h.actor_id,
                    "actor_role": h.actor_role,
                    "reason": h.reason,
                    "at": h.created_at,
                }
                for h in history
            ),
        ],
    }


def _placed_entry(user_id: int, created_at: datetime) -> dict[str, Any]:
    """The first history entry. Placing is not a transition, so it is not stored: the order row itself
    says who placed it and when (one INSERT fewer on the hottest path)."""
    return {
        "from_status": None,
        "to_status": S.pending_payment.value,
        "actor_id": user_id,
        "actor_role": "customer",
        "reason": "order placed",
        "at": created_at,
    }


async def get_for_customer(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await repository.get(session, order_id, user_id=user.id)
    if order is None:
        raise OrderNotFound("No such order.")
    return order


async def get_or_raise(session: AsyncSession, order_id: int) -> Order:
    order = await repository.get(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    return order


async def list_for_customer(
    session: AsyncSession, user: User, status: OrderStatus | None, offset: int, limit: int
) -> tuple[Sequence[Order], int]:
    return await repository.list_for_user(session, user.id, status, offset, limit)


# ---------------------------------------------------------------------------------------------- checkout


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


async def place_order(
    session: AsyncSession, user: User | Principal, data: OrderCreate, *, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    """Checkout. Returns (HTTP status, body); with an Idempotency-Key a repeat returns the saved answer."""
    actor = Actor(user.id, user.role)
    assert actor.user_id is not None
    if isinstance(user, User):
        # Detached, the loaded user survives the rollbacks below (claims, retries) without a reload.
        session.expunge(user)
    # On MariaDB, named items go through the lean store in its own transaction (see app.kit.leandb). The
    # whole-cart checkout changes the cart in the request's session, and the expired-GI guard reads
    # certificates through it, so those stay on the session.
    pool = None
    if data.items is not None and not get_settings().block_sale_on_expired_gi:
        pool = leandb.get_pool(transactions=True)
    claim: idempotency.Claim | None = None
    if idempotency_key is not None:
        body_hash = idempotency.request_hash(data.model_dump(mode="json"))
        if pool is not None:
            # The key's row is inserted with the order, in its transaction (app.orders.idempotency).
            claim = idempotency.Claim(actor.user_id, idempotency_key, body_hash)
            try:
                return 201, await _place_order_under_claim(session, pool, actor, data, claim)
            except idempotency.KeyInUse:
                raise RequestInProgress(
                    "A request with this Idempotency-Key is still being processed; retry shortly."
                ) from None
            except idempotency.KeyAlreadyStored:
                pass  # answered below from the stored row (or its stale claim taken over)
        outcome = await idempotency.claim(session, actor.user_id, idempotency_key, body_hash)
        if isinstance(outcome, idempotency.SavedResponse):
            return outcome.status, outcome.body
        claim = outcome
    return 201, await _place_order_under_claim(session, pool, actor, data, claim)


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _checkout_slot() -> asyncio.Semaphore:
    """Admission control: at most CHECKOUT_CONCURRENCY checkouts of this process run their transaction at
    once. Where the COMMIT is a round trip of its own (the session path, servers that do not enforce CHECK
    constraints) the hot SKU row stays locked from the stock UPDATE until the event loop comes back to send
    it: with fewer transactions in flight it comes back sooner. The others wait here, holding no locks and
    no connection."""
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(CHECKOUT_CONCURRENCY)
    return slot


def _db_error_code(exc: BaseException) -> int | None:
    if isinstance(exc, DBAPIError):
        return exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return leandb.error_code(exc)


async def _place_order_under_claim(
    session: AsyncSession,
    pool: leandb.LeanPool | None,
    actor: Actor,
    data: OrderCreate,
    claim: idempotency.Claim | None,
) -> dict[str, Any]:
    """One checkout slot, the order's transaction retried on deadlocks; a committed claim is let go of when
    the order fails."""
    try:
        async with _checkout_slot():
            for attempt in range(1, CHECKOUT_ATTEMPTS + 1):
                try:
                    if pool is None:
                        store = repository.SessionCheckoutStore(session)
                        return await _place_order_once(store, actor, data, claim)
                    async with pool.transaction() as tx:
                        lean = repository.LeanCheckoutStore(
                            tx, nowait_keys=pool.is_mariadb, commit_with_stock=pool.enforces_checks
                        )
                        body = await _place_order_once(lean, actor, data, claim)
                        assert not lean.queued, "every queued write is sent with the stock UPDATE"
                        return body
                except Exception as exc:
                    code = _db_error_code(exc)
                    if code not in RETRYABLE_DB_ERRORS or attempt == CHECKOUT_ATTEMPTS:
                        raise
                    log.warning("checkout retried", extra={"db_error": code, "attempt": attempt})
                    if pool is None:
                        await session.rollback()
                    await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
            raise AssertionError("unreachable")
    except BaseException:
        if claim is not None and claim.row_id is not None:
            # Undo our half of the work first: the claim row may be locked by this very transaction.
            await session.rollback()
            await idempotency.release(session, claim)
        raise


async def _place_order_once(
    store: repository.CheckoutStore, actor: Actor, data: OrderCreate, claim: idempotency.Claim | None
) -> dict[str, Any]:
    settings = get_settings()
    user_id = actor.user_id
    assert user_id is not None
    from_cart = data.items is None
    if from_cart:
        assert isinstance(store, repository.SessionCheckoutStore)
        lines = await cart_service.lines_for_checkout(store.session, user_id)
        if not lines:
            raise CartEmpty("The cart is empty; add something first or name the items.")
    else:
        lines = {line.sku_id: line.quantity for line in data.items or []}
    if len(lines) > settings.order_max_lines:
        raise QuantityLimitExceeded(f"At most {settings.order_max_lines} different items per order.")
    too_many = sorted(sku_id for sku_id, qty in lines.items() if qty > settings.order_max_quantity_per_sku)
    if too_many:
        raise QuantityLimitExceeded(
            f"At most {settings.order_max_quantity_per_sku} of one item per order.", sku_ids=too_many
        )
    if data.coupon_code:
        # Promotions (coupons) are not built yet: no code is known.
        raise CouponNotFound("No such coupon.", coupon_code=data.coupon_code)

    # A key whose row is not committed yet goes in with the order (lean path): the reads look for it first.
    unclaimed_key = claim.key if claim is not None and claim.row_id is None else None
    reads = await store.read_for_checkout(user_id, data.address_id, lines, unclaimed_key)
    address, skus = reads.address, reads.skus
    if address is None:
        raise AddressNotFound("No such address.")
    # The fee is decided on the canonical name. An address whose province could not be mapped when provinces
    # began to be checked is refused until the customer chooses it again (so is any row that slipped past).
    province = regions.canonical(address.province)
    if address.needs_correction or province is None:
        raise AddressNeedsCorrection(
            "This address's province is not recognised; choose it again from the list before checking out.",
            address_id=data.address_id,
        )
    unavailable = sorted(
        sku_id
        for sku_id in lines
        if sku_id not in skus
        or not skus[sku_id].is_active
        or skus[sku_id].product_status != ProductStatus.published.value
    )
    if unavailable:
        raise SkuUnavailable("Some items are not on sale.", sku_ids=unavailable)
    if settings.block_sale_on_expired_gi:
        from app.traceability import service as traceability_service

        assert isinstance(store, repository.SessionCheckoutStore)
        # Refuses products whose geographical-indication certificates all expired.
        await traceability_service.assert_sellable(
            store.session, {skus[sku_id].product_id for sku_id in lines}
        )

    _check_unpaid_limits(reads, lines)

    # The hot path writes with plain statements: the ORM's unit of work cost more CPU than all the rest.
    now = utcnow()
    subtotal = sum(skus[sku_id].price_fen * qty for sku_id, qty in lines.items())
    shipping = shipping_fee(subtotal, province)
    discount = 0
    order: dict[str, Any] = {
        "order_no": new_order_no(now),
        "user_id": user_id,
        "status": S.pending_payment.value,
        "subtotal_fen": subtotal,
        "shipping_fen": shipping,
        "discount_fen": discount,
        "total_fen": subtotal + shipping - discount,
        "coupon_code": None,
        "note": data.note,
        "address": {
            "recipient": address.recipient,
            "phone": address.phone,
            "province": province,
            "city": address.city,
            "district": address.district,
            "detail": address.detail,
        },
        "recipient_phone": address.phone,
        "pay_deadline": now + timedelta(minutes=settings.order_pay_timeout_minutes),
        "created_at": now,
        "updated_at": now,
    }
    items = [
        {
            "sku_id": sku_id,
            "product_id": skus[sku_id].product_id,
            "name": f"{skus[sku_id].product_name} {skus[sku_id].name}"[:200],
            "sku_name": skus[sku_id].name,
            "quantity": qty,
            "unit_price_fen": skus[sku_id].price_fen,
            "subtotal_fen": skus[sku_id].price_fen * qty,
        }
        for sku_id, qty in sorted(lines.items())
    ]
    order["id"], item_ids = await store.insert_order_and_items(order, items)
    for item, item_id in zip(items, item_ids, strict=True):
        item.update(id=item_id, order_id=order["id"])
    await store.emit(
        events.outbox_row(
            "order.created",
            {
                "order_id": order["id"],
                "order_no": order["order_no"],
                "user_id": order["user_id"],
                "items": [
                    {k: i[k] for k in ("sku_id", "product_id", "quantity", "unit_price_fen")} for i in items
                ],
                "subtotal_fen": subtotal,
                "shipping_fen": shipping,
                "discount_fen": discount,
                "total_fen": order["total_fen"],
                "pay_deadline": order["pay_deadline"].isoformat(),
                "created_at": now.isoformat(),
            },
            subject=f"order/{order['id']}",
        )
    )
    body = _checkout_body(order, items)
    if claim is not None:
        await idempotency.save_response(store, claim, 201, body)
    if from_cart:
        assert isinstance(store, repository.SessionCheckoutStore)
        await cart_service.remove_lines(store.session, user_id, list(lines))
    # Stock last: the hot rows stay locked only from here to the commit.
    short = await store.take_stock(sorted(lines.items()))
    if short:
        raise OutOfStock("Not enough stock for some items; nothing was reserved.", sku_ids=short)
    return body


def _check_unpaid_limits(reads: repository.CheckoutReads, lines: dict[int, int]) -> None:
    """One customer may not hold all the stock hostage with orders left unpaid (each reserves its stock until
    the pay deadline). `reads` were counted under the lock on the customer's row, in this transaction."""
    settings = get_settings()
    max_orders = settings.max_unpaid_orders_per_customer
    if reads.unpaid_orders >= max_orders:
        raise TooManyUnpaidOrders(
            f"You have {reads.unpaid_orders} unpaid orders (at most {max_orders}); pay or cancel one first.",
            limit=max_orders,
        )
    max_units = settings.max_unpaid_units_per_sku
    over = sorted(
        sku_id for sku_id, qty in lines.items() if reads.unpaid_units.get(sku_id, 0) + qty > max_units
    )
    if over:
        raise TooManyUnpaidOrders(
            f"At most {max_units} of one item may wait for payment across your unpaid orders; pay or cancel"
            " one first.",
            limit=max_units,
            sku_ids=over,
        )


def _checkout_body(order: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    read = OrderRead.model_validate(
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
            "history": [_placed_entry(order["user_id"], order["created_at"])],
        }
    )
    return read.model_dump(mode="json")


def _event_base(order: Order) -> dict[str, Any]:
    return {"order_id": order.id, "order_no": order.order_no, "user_id": order.user_id}


# ---------------------------------------------------------------------------------------------- stock


async def release_stock(session: AsyncSession, order: Order) -> bool:
    """Put an order's reserved stock back, at most once per order. True when this call returned it."""
    return order.id in await _release_stock_of(session, [order.id])


async def _release_stock_of(session: AsyncSession, order_ids: Sequence[int]) -> set[int]:
    """Return the stock of several orders at once, SKUs in ascending id order (as checkout takes them, so
    the two never wait on each other in a cycle). Returns the ids whose stock this call put back."""
    now = utcnow()
    released = {oid for oid in order_ids if await repository.claim_stock_release(session, oid, now)}
    quantities: dict[int, int] = defaultdict(int)
    for item in await repository.items_of(session, sorted(released)):
        quantities[item.sku_id] += item.quantity
    await repository.put_back_stock(session, quantities)
    return released


async def _adjust_sales(session: AsyncSession, order_id: int, sign: int) -> None:
    by_product: dict[int, int] = defaultdict(int)
    for item in await repository.items_of(session, [order_id]):
        by_product[item.product_id] += sign * item.quantity
    await repository.add_sales(session, by_product)


# ---------------------------------------------------------------------------------------------- customer


async def _move_or_conflict(session: AsyncSession, order: Order, to: OrderStatus, **kwargs: Any) -> None:
    if not await transition(session, order, to, **kwargs):
        raise InvalidOrderState("The order changed meanwhile; reload it and try again.")


async def cancel_by_customer(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await get_for_customer(session, user, order_id)
    if order.status != S.pending_payment:
        raise InvalidOrderState(f"Only an unpaid order can be cancelled; this one is {order.status}.")
    await _cancel(session, order, actor=Actor.of(user), reason="cancelled by the buyer")
    return await get_or_raise(session, order.id)


async def _cancel(session: AsyncSession, order: Order, *, actor: Actor, reason: str) -> None:
    await _move_or_conflict(
        session, order, S.cancelled, actor=actor, reason=reason, from_statuses=(S.pending_payment,)
    )
    returned = await release_stock(session, order)
    await _emit_cancelled(session, order, actor, reason, returned)


async def _emit_cancelled(
    session: AsyncSession, order: Order, actor: Actor, reason: str, returned: bool
) -> None:
    await events.emit(
        session,
        "order.cancelled",
        {
            **_event_base(order),
            "reason": reason,
            "by": actor.role,
            "stock_returned": returned,
            "cancelled_at": (order.cancelled_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )


async def confirm_receipt(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await get_for_customer(session, user, order_id)
    await _complete(session, order, actor=Actor.of(user), reason="receipt confirmed by the buyer")
    return await get_or_raise(session, order.id)


async def _complete(session: AsyncSession, order: Order, *, actor: Actor, reason: str) -> bool:
    if not await transition(session, order, S.completed, actor=actor, reason=reason):
        if actor != SYSTEM:
            raise InvalidOrderState("The order changed meanwhile; reload it and try again.")
        return False
    await events.emit(
        session,
        "order.completed",
        {
            **_event_base(order),
            "by": actor.role,
            "completed_at": (order.completed_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True


def refund_requests_made(history: Sequence[Any]) -> int:
    """The customer's refund requests in an order's history (rows or read entries): each a move from paid or
    shipped to refunding (a payment that came after cancellation is refunded without a request)."""
    return sum(
        1
        for h in history
        if str(h.to_status) == S.refunding and str(h.from_status) in (S.paid.value, S.shipped.value)
    )


async def request_refund(session: AsyncSession, user: User, order_id: int, reason: str) -> Order:
    """A rejected request may be followed by another, up to MAX_REFUND_REQUESTS_PER_ORDER in all: past that
    the customer talks to the shop (no request → reject loop without end)."""
    order = await get_for_customer(session, user, order_id)
    limit = get_settings().max_refund_requests_per_order
    if refund_requests_made(order.history) >= limit:
        raise RefundRequestLimitReached(
            f"This order already had {limit} refund requests; please contact customer service.", limit=limit
        )
    # Two requests at once: one moves the order, the other finds it refunding (409 invalid_order_state).
    await begin_refund(session, order.id, actor=Actor.of(user), reason=reason)
    return await get_or_raise(session, order.id)


# ---------------------------------------------------------------------------------------------- staff


def _day_bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    # The calendar's first and last days have no Beijing midnight in UTC: they bound nothing.
    if date_from is not None and date_from <= date.min + timedelta(days=1):
        date_from = None
    if date_to is not None and date_to >= date.max - timedelta(days=1):
        date_to = None
    start = shop_day_start(date_from) if date_from else None
    end = shop_day_start(date_to + timedelta(days=1)) if date_to else None
    return start, end


async def list_for_staff(
    session: AsyncSession,
    *,
    status: OrderStatus | None,
    date_from: date | None,
    date_to: date | None,
    phone: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[tuple[Order, str]], int]:
    created_from, created_before = _day_bounds(date_from, date_to)
    return await repository.list_for_staff(
        session,
        status=status,
        created_from=created_from,
        created_before=created_before,
        phone=phone,
        offset=offset,
        limit=limit,
    )


async def buyer_phone(session: AsyncSession, order: Order) -> str:
    return await repository.buyer_phone(session, order.user_id)


async def ship(session: AsyncSession, staff: User, order_id: int, data: ShipRequest) -> Order:
    order = await get_or_raise(session, order_id)
    await _move_or_conflict(
        session,
        order,
        S.shipped,
        actor=Actor.of(staff),
        reason=f"shipped with {data.carrier} {data.tracking_no}",
        from_statuses=(S.paid,),
        values={"carrier": data.carrier, "tracking_no": data.tracking_no},
    )
    await _record_batches(session, order, data.lines)
    await events.emit(
        session,
        "order.shipped",
        {
            **_event_base(order),
            "carrier": data.carrier,
            "tracking_no": data.tracking_no,
            "shipped_at": (order.shipped_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return await get_or_raise(session, order.id)


async def _record_batches(session: AsyncSession, order: Order, lines: list[ShipLine] | None) -> None:
    """Which batch each shipped line came from: a batch given per line, otherwise the oldest batch of the
    product with quantity left, or none without batches (traceability records it, for recalls)."""
    from app.traceability import service as traceability_service

    await traceability_service.record_shipment(
        session, order.id, [(line.order_item_id, line.sku_id, line.batch_id) for line in lines or []]
    )


async def _refund_through_gateway(session: AsyncSession, order: Order) -> bool:
    """Start giving the money back. True when the refund is settled now — nothing was paid through a
    gateway — so the order may become refunded at once; False when a gateway will confirm later by calling
    `complete_refund`."""
    from app.payments import service as payments_service  # payments imports orders; import late

    return await payments_service.refund_order(session, order.id)


async def approve_refund(session: AsyncSession, staff: User, order_id: int) -> Order:
    order = await get_or_raise(session, order_id)
    if order.status != S.refunding or order.refund_approved_at is not None:
        raise InvalidOrderState(
            f"There is no refund request waiting for approval; the order is {order.status}."
        )
    if not await repository.approve_refund_once(session, order.id, utcnow()):
        raise InvalidOrderState("The order changed meanwhile; reload it and try again.")
    if await _refund_through_gateway(session, order):
        await complete_refund(session, order.id, actor=Actor.of(staff), reason="refund approved")
    return await get_or_raise(session, order.id)


async def reject_refund(session: AsyncSession, staff: User, order_id: int, data: RefundReject) -> Order:
    order = await get_or_raise(session, order_id)
    back_to = order.refund_from_status
    if (
        order.status != S.refunding
        or order.refund_approved_at is not None
        or back_to not in (S.paid, S.shipped)
    ):
        # A refund of a payment that came after cancellation cannot be refused: the goods were never sold.
        raise InvalidOrderState(
            f"There is no refund request that can be rejected; the order is {order.status}."
        )
    await _move_or_conflict(
        session,
        order,
        S(back_to),
        actor=Actor.of(staff),
        reason=f"refund rejected: {data.reason}",
        from_statuses=(S.refunding,),
    )
    await events.emit(
        session,
        "order.refund_rejected",
        {**_event_base(order), "reason": data.reason, "status": back_to, "rejected_at": utcnow().isoformat()},
        subject=f"order/{order.id}",
    )
    return await get_or_raise(session, order.id)


CSV_COLUMNS = [
    "order_no",
    "created_at",
    "status",
    "buyer_phone",
    "recipient",
    "recipient_phone",
    "address",
    "items",
    "subtotal_yuan",
    "shipping_yuan",
    "discount_yuan",
    "total_yuan",
    "paid_at",
    "carrier",
    "tracking_no",
    "note",
]
EXPORT_MAX_ROWS = 50_000


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell that starts like a formula is kept as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _local(at: datetime | None) -> str:
    return "" if at is None else format_shop_time(at)


async def export_csv(session: AsyncSession, date_from: date | None, date_to: date | None) -> str:
    created_from, created_before = _day_bounds(date_from, date_to)
    rows = await repository.stream_for_export(session, created_from, created_before, EXPORT_MAX_ROWS)
    out = io.StringIO()
    out.write("\ufeff")  # so that Excel opens the UTF-8 Chinese text correctly
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for order, phone in rows:
        a = order.address
        writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    order.order_no,
                    _local(order.created_at),
                    order.status,
                    phone,
                    a.get("recipient"),
                    a.get("phone"),
                    f"{a.get('province', '')}{a.get('city', '')}{a.get('district', '')}{a.get('detail', '')}",
                    "; ".join(f"{i.name} x{i.quantity}" for i in order.items),
                    fen_to_yuan(order.subtotal_fen),
                    fen_to_yuan(order.shipping_fen),
                    fen_to_yuan(order.discount_fen),
                    fen_to_yuan(order.total_fen),
                    _local(order.paid_at),
                    order.carrier,
                    order.tracking_no,
                    order.note,
                )
            ]
        )
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- payments API


class PaymentApplied(enum.StrEnum):
    paid = "paid"  # pending_payment → paid
    late = "late"  # cancelled → refunding: the money came after the cancellation and must go back
    duplicate = "duplicate"  # nothing changed: this payment was already applied

    @property
    def changed(self) -> bool:
        return self is not PaymentApplied.duplicate


async def mark_paid(
    session: AsyncSession, order_id: int, *, amount_fen: int, paid_at: datetime, actor: Actor = SYSTEM
) -> PaymentApplied:
    """Apply a confirmed payment (for the payments domain). Safe to call again with the same payment.

    Raises OrderNotFound, or AmountMismatch (nothing changed) when `amount_fen` is not the order's total.
    """
    for _ in range(3):
        order = await repository.get_plain(session, order_id)
        if order is None:
            raise OrderNotFound("No such order.")
        if amount_fen != order.total_fen:
            raise AmountMismatch(f"Paid {amount_fen} fen, but the order's total is {order.total_fen} fen.")
        if order.status == S.pending_payment:
            if await transition(
                session,
                order,
                S.paid,
                actor=actor,
                reason="payment received",
                values={"paid_at": paid_at, "paid_amount_fen": amount_fen},
            ):
                await _adjust_sales(session, order.id, +1)
                await events.emit(
                    session,
                    "order.paid",
                    {**_event_base(order), "amount_fen": amount_fen, "paid_at": paid_at.isoformat()},
                    subject=f"order/{order.id}",
                )
                return PaymentApplied.paid
            continue  # changed under us (cancelled by the worker?): look again
        if order.status == S.cancelled and order.paid_at is None:
            reason = "payment arrived after the order was cancelled"
            if await transition(
                session,
                order,
                S.refunding,
                actor=actor,
                reason=reason,
                values={
                    "paid_at": paid_at,
                    "paid_amount_fen": amount_fen,
                    "refund_from_status": S.cancelled.value,
                    "refund_reason": reason,
                },
            ):
                await _emit_refund_requested(session, order, reason, S.cancelled)
                return PaymentApplied.late
            continue
        return PaymentApplied.duplicate
    return PaymentApplied.duplicate


async def _emit_refund_requested(session: AsyncSession, order: Order, reason: str, from_status: str) -> None:
    await events.emit(
        session,
        "order.refund_requested",
        {
            **_event_base(order),
            "reason": reason,
            "from_status": str(from_status),
            "amount_fen": order.paid_amount_fen or 0,
            "requested_at": utcnow().isoformat(),
        },
        subject=f"order/{order.id}",
    )


async def begin_refund(session: AsyncSession, order_id: int, *, actor: Actor, reason: str) -> Order:
    """paid | shipped → refunding. Raises InvalidOrderState from any other status."""
    order = await repository.get_plain(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    from_status = order.status
    await _move_or_conflict(
        session,
        order,
        S.refunding,
        actor=actor,
        reason=reason,
        from_statuses=(S.paid, S.shipped),
        values={"refund_reason": reason, "refund_from_status": from_status, "refund_approved_at": None},
    )
    await _emit_refund_requested(session, order, reason, from_status)
    return order


async def complete_refund(
    session: AsyncSession, order_id: int, *, actor: Actor = SYSTEM, reason: str = ""
) -> bool:
    """refunding → refunded once the money is back. Returns stock when nothing was shipped (and it was not
    returned already at cancellation). False when the order was already refunded (a repeated callback)."""
    order = await repository.get_plain(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    if order.status == S.refunded:
        return False
    if not await transition(
        session,
        order,
        S.refunded,
        actor=actor,
        reason=reason or "refund completed",
        from_statuses=(S.refunding,),
    ):
        return False
    returned = False
    if order.shipped_at is None:
        returned = await release_stock(session, order)
    if order.refund_from_status in (S.paid, S.shipped):
        await _adjust_sales(session, order.id, -1)
    await events.emit(
        session,
        "order.refunded",
        {
            **_event_base(order),
            "amount_fen": order.paid_amount_fen or 0,
            "stock_returned": returned,
            "refunded_at": (order.refunded_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True


# ---------------------------------------------------------------------------------------------- jobs

JOB_BATCH = 200


async def cancel_expired(session: AsyncSession) -> int:
    """Cancel unpaid orders whose pay_deadline has passed and put their stock back (exactly once, however
    many workers run this at the same time: the status change and the stock return are both conditional)."""
    ids = await repository.due_ids(session, S.pending_payment, Order.pay_deadline, utcnow(), JOB_BATCH)
    reason = "not paid before the deadline"
    cancelled: list[Order] = []
    for order_id in ids:
        order = await repository.get_plain(session, order_id)
        if order is None or order.status != S.pending_payment:
            continue
        if await transition(
            session, order, S.cancelled, actor=SYSTEM, reason=reason, from_statuses=(S.pending_payment,)
        ):
            cancelled.append(order)
    returned = await _release_stock_of(session, [o.id for o in cancelled])
    for order in cancelled:
        await _emit_cancelled(session, order, SYSTEM, reason, order.id in returned)
    return len(cancelled)


async def auto_confirm(session: AsyncSession) -> int:
    """Complete orders shipped more than AUTO_CONFIRM_DAYS ago."""
    before = utcnow() - timedelta(days=get_settings().auto_confirm_days)
    ids = await repository.due_ids(session, S.shipped, Order.shipped_at, before, JOB_BATCH)
    completed = 0
    for order_id in ids:
        order = await repository.get_plain(session, order_id)
        if order is None or order.status != S.shipped:
            continue
        if await _complete(
            session,
            order,
            actor=SYSTEM,
            reason=f"confirmed automatically after {get_settings().auto_confirm_days:g} days",
        ):
            completed += 1
    return completed
