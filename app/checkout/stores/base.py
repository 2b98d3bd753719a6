"""The checkout store's interface: what the pipeline reads and writes, the rows' fields, the refusals a store
raises (app.checkout.stores has the whole picture)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.coupons.discount import Terms
from app.flash_sales.service import SaleState
from app.users.revocation import AuthState

log = logging.getLogger("daoxiang.orders")


class KeyAlreadyStored(Exception):
    """The order's transaction found the Idempotency-Key's row already there: answer from the row instead."""


class KeyInUse(Exception):
    """The order's transaction found the Idempotency-Key's row being inserted by a request still running."""


class CheckoutAddress(NamedTuple):
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    needs_correction: bool


class CheckoutSku(NamedTuple):
    id: int
    name: str
    price_fen: int
    is_active: bool
    product_id: int
    product_name: str
    product_status: str


class CheckoutReads(NamedTuple):
    """What checkout reads, after locking the customer's row: the address (None when it is not theirs),
    the SKUs that exist, and what the customer holds unpaid (orders, and units of each of these SKUs).
    `customer`: the auth state (role, token version, active) of the locked row itself, None when there is
    no such user: an access token is checked against it with no round trip of its own."""

    address: CheckoutAddress | None
    skus: dict[int, CheckoutSku]
    unpaid_orders: int
    unpaid_units: dict[int, int]
    customer: AuthState | None = None


def _auth_state(row: Sequence[Any] | None) -> AuthState | None:
    return None if row is None else AuthState(str(row[0]), int(row[1]), bool(row[2]))


class CheckoutCoupon(NamedTuple):
    """The customer's coupon named by the order's coupon_code: its state, its terms, and which of the
    order's SKUs it covers (None: the whole shop)."""

    claim_id: int
    code: str
    status: str
    coupon_id: int
    terms: Terms
    starts_at: datetime
    expires_at: datetime
    eligible_sku_ids: frozenset[int] | None


def _checkout_coupon(code: str, row: Sequence[Any], eligible: Iterable[int] | None) -> CheckoutCoupon:
    """From a row of app.coupons.repository.CHECKOUT_COLUMNS (either store)."""
    claim_id, status, coupon_id, kind, amount, percent, cap, threshold, starts_at, expires_at, _ = row
    return CheckoutCoupon(
        int(claim_id),
        code,
        status,
        int(coupon_id),
        Terms(kind, amount, percent, cap, int(threshold)),
        _aware_utc(starts_at),
        _aware_utc(expires_at),
        None if eligible is None else frozenset(int(sku_id) for sku_id in eligible),
    )


def _aware_utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class IdempotentRequest(NamedTuple):
    """The Idempotency-Key a checkout runs under: its row answers a repeat of the same request."""

    user_id: int
    key: str
    body_hash: str


# The row fields the pipeline fills (app.checkout.pipeline builds these dicts; events.outbox_row the last).
ORDER_FIELDS = frozenset(
    "order_no kind user_id status subtotal_fen shipping_fen discount_fen total_fen coupon_code note address"
    " recipient_phone pay_deadline created_at updated_at stats_counted".split()
)
ITEM_FIELDS = frozenset(
    "sku_id product_id name sku_name quantity unit_price_fen subtotal_fen discount_fen".split()
)
OUTBOX_FIELDS = frozenset("event_id type version subject occurred_at data attempts".split())
KEY_FIELDS = frozenset("user_id key request_hash response_status response_body claimed_at created_at".split())
PURCHASE_FIELDS = frozenset("sale_id user_id order_id quantity created_at".split())
ADOPTION_FIELDS = frozenset("plan_id user_id order_id shares kg_total kg_delivered created_at".split())
PRESALE_SHARE_FIELDS = frozenset(
    "presale_id user_id order_id quantity deposit_fen balance_fen created_at".split()
)


class CheckoutStore(Protocol):
    """What the pipeline asks of a database. `session` is the request's session: the steps that ask other
    domains (the expired-GI guard) read through their service modules with it."""

    session: AsyncSession

    async def cart_lines(self, user_id: int) -> dict[int, int]:
        """{sku_id: quantity} of the customer's whole cart, as app.cart.service.checkout_quantities caps it."""
        ...

    async def read_for_checkout(self, user_id: int, address_id: int, sku_ids: Iterable[int]) -> CheckoutReads:
        """Lock the customer's row (parallel checkouts of one customer queue there, so each counts the
        others' unpaid orders), reading its auth state, then read the address, the SKUs and the unpaid
        holdings."""
        ...

    async def insert_order_and_items(
        self, order: dict[str, Any], items: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        """The order's id and its lines' ids (`items` without order_id, in order)."""
        ...

    async def emit(self, row: dict[str, Any]) -> None:
        """An outbox row (app.events.outbox_row), in the order's transaction."""
        ...

    async def record_answer(self, body: dict[str, Any]) -> None:
        """Store the answer under the request's Idempotency-Key (nothing without a key)."""
        ...

    async def remove_cart_lines(self, user_id: int, sku_ids: list[int]) -> None: ...

    async def find_coupon(self, user_id: int, code: str, sku_ids: Iterable[int]) -> CheckoutCoupon | None:
        """The customer's coupon with this code (None: unknown, or someone else's), and which of `sku_ids`
        it covers."""
        ...

    async def use_coupon(self, claim_id: int, order_id: int) -> bool:
        """Mark the coupon used by the order: unused and without an order → used (a conditional UPDATE in
        the order's transaction); False when another order took it first."""
        ...

    async def take_stock(self, lines: list[tuple[int, int]]) -> list[int]:
        """Take every line's stock (ascending SKU order, as given), last; the SKUs short of stock (then the
        caller rolls back and nothing is taken)."""
        ...

    async def check_key(self) -> None:
        """Raise KeyAlreadyStored when the request's Idempotency-Key already holds an answer, KeyInUse when a
        request still running holds it; nothing without a key. For a refusal made before anything is read
        (the flash sale's gate): a repeat of a request that was placed must get that request's answer."""
        ...

    async def read_flash_sale(self, user_id: int, sale_id: int) -> SaleState | None:
        """Lock the customer's row (as read_for_checkout does: one customer's purchases queue there, so what
        they hold is counted exactly), then read the flash sale and what the customer holds of it (units of
        purchases not released). None when there is no such sale."""
        ...

    async def take_from_flash_sale(self, sale_id: int, quantity: int, purchase: dict[str, Any]) -> bool:
        """Record the purchase (flash_sale_purchases, PURCHASE_FIELDS) and take its units from the sale, last
        (like take_stock); False when fewer remain (then the caller rolls back and nothing is taken)."""
        ...

    async def take_adoption_shares(self, plan_id: int, shares: int, adoption: dict[str, Any]) -> bool:
        """Record the adoption (adoptions, ADOPTION_FIELDS) and take its shares from the plan, last (like
        take_stock); False when fewer are left (then the caller rolls back and nothing is taken)."""

    async def take_from_presale(self, presale_id: int, quantity: int, share: dict[str, Any]) -> bool:
        """Record the pre-sale order's share (presale_orders, PRESALE_SHARE_FIELDS) and take its units from
        the pre-sale's quota, last (like take_stock; no SKU stock is taken); False when less quota remains
        (then the caller rolls back and nothing is taken)."""
        ...


def _answer_text(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()  # the same JSON as json.dumps(..., ensure_ascii=False), faster
