"""The checkout stores' contract: for the same requests, every store writes the same rows.

Each case below runs a short series of checkouts through `app.checkout.service.place_order` on one store
(the ORM store everywhere; on MariaDB the lean store too) and compares what it answered and every row it
left — orders, order lines, status history, outbox events, Idempotency-Key rows, cart lines, stock — with
the case's recorded rows in tests/checkout/contract/<case>.json. Ids, order numbers, event ids and times
are replaced by stable names first (`order1`, `sku_a`, `<time>`...). The recorded rows are the
specification: read them when in doubt. After a deliberate change, record them again on SQLite with
`RECORD_CHECKOUT_CONTRACT=1` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.adoptions.models import Adoption, AdoptionPlan
from app.adoptions.schemas import AdoptCreate
from app.cart.models import CartItem
from app.catalog.models import ProductStatus, Sku
from app.checkout import service as checkout_service
from app.checkout.request import body_hash
from app.checkout.service import Backend, LeanBackend, OrmBackend, PlacedOrder
from app.config import get_settings
from app.coupons.models import Coupon, CouponCategory, CouponClaim, CouponProduct
from app.db import session_scope, utcnow
from app.errors import AppError
from app.events import OutboxEvent
from app.flash_sales.models import FlashSale, FlashSalePurchase
from app.flash_sales.schemas import FlashSaleOrderCreate
from app.orders.models import IdempotencyKey, Order, OrderHistory, OrderItem
from app.orders.schemas import OrderCreate
from app.presales.models import Presale, PresaleOrder
from app.presales.schemas import PresaleOrderCreate
from app.users.models import Address, Principal, User
from tests.adoptions.factories import create_plan, field
from tests.catalog.factories import create_category
from tests.flash_sales.factories import create_flash_sale
from tests.orders.factories import create_product, create_sku, customer
from tests.presales.factories import create_presale
from tests.traceability.factories import create_certificate

RECORDED = Path(__file__).parent / "contract"
RECORD = os.environ.get("RECORD_CHECKOUT_CONTRACT") == "1"

STORES = [
    pytest.param(OrmBackend, id="ORM store"),
    pytest.param(LeanBackend, id="lean store", marks=pytest.mark.mysql_only),
]


class Shop:
    """One case's customers, addresses and SKUs, and the names their ids are compared by."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.names: dict[tuple[str, int], str] = {}
        self.outcomes: list[dict[str, Any]] = []

    def name(self, kind: str, row_id: int, name: str) -> None:
        self.names[(kind, row_id)] = name

    async def customer(self, name: str, **address: Any) -> tuple[User, Address]:
        user, addr = await customer(**address)
        self.name("user", user.id, name)
        self.name("address", addr.id, f"{name}'s address")
        return user, addr

    async def sku(
        self, ref: str, *, product_status: str = "published", category: Any = None, **fields: Any
    ) -> Sku:
        product = await create_product(
            name=f"五常大米 {ref}", status=product_status, category=category, skus=[]
        )
        sku = await create_sku(product, **fields)
        self.name("sku", sku.id, ref)
        self.name("product", product.id, f"product of {ref}")
        return sku

    async def coupon(
        self,
        ref: str,
        owner: User,
        code: str,
        *,
        product_ids: list[int] = (),  # type: ignore[assignment]
        category_ids: list[int] = (),  # type: ignore[assignment]
        **terms: Any,
    ) -> CouponClaim:
        """A batch (¥10 off the whole shop unless `terms` say otherwise, running now) and `owner`'s coupon of
        it with `code`, written straight to the tables (claiming is not checkout's business)."""
        now = utcnow()
        fields: dict[str, Any] = dict(
            code=f"CP-{ref}",
            name=f"券 {ref}",
            kind="fixed",
            amount_fen=1000,
            threshold_fen=0,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=7),
            total_quantity=10,
            claimed_quantity=1,
            per_customer_limit=1,
            whole_shop=not (product_ids or category_ids),
        )
        fields.update(terms)
        async with session_scope() as session:
            coupon = Coupon(**fields)
            session.add(coupon)
            await session.flush()
            session.add_all(CouponProduct(coupon_id=coupon.id, product_id=pid) for pid in product_ids)
            session.add_all(CouponCategory(coupon_id=coupon.id, category_id=cid) for cid in category_ids)
            claim = CouponClaim(
                coupon_id=coupon.id,
                user_id=owner.id,
                code=code,
                status="unused",
                expires_at=fields["ends_at"],
            )
            session.add(claim)
        self.name("coupon", coupon.id, f"coupon {ref}")
        return claim

    async def place(
        self,
        user: User,
        address_id: int,
        lines: list[tuple[Sku | int, int]] | None,
        *,
        key: str | None = None,
        **body: Any,
    ) -> PlacedOrder | AppError:
        payload: dict[str, Any] = {"address_id": address_id, **body}
        if lines is not None:
            payload["items"] = [
                {"sku_id": sku if isinstance(sku, int) else sku.id, "quantity": qty} for sku, qty in lines
            ]
        data = OrderCreate.model_validate(payload)
        return await self._record(
            lambda session: checkout_service.place_order(
                session, Principal(user.id, "customer"), data, idempotency_key=key, store=self.backend
            )
        )

    async def buy_flash(
        self, user: User, address_id: int, sale: FlashSale, quantity: int, *, key: str | None = None
    ) -> PlacedOrder | AppError:
        data = FlashSaleOrderCreate(address_id=address_id, quantity=quantity)
        return await self._record(
            lambda session: checkout_service.place_flash_sale_order(
                session,
                Principal(user.id, "customer"),
                sale.id,
                data,
                idempotency_key=key,
                store=self.backend,
            )
        )

    async def adopt(
        self, user: User, address_id: int, plan_id: int, shares: int, *, key: str | None = None
    ) -> PlacedOrder | AppError:
        data = AdoptCreate(address_id=address_id, shares=shares)
        return await self._record(
            lambda session: checkout_service.place_adoption_order(
                session,
                Principal(user.id, "customer"),
                plan_id,
                data,
                idempotency_key=key,
                store=self.backend,
            )
        )

    async def order_presale(
        self, user: User, address_id: int, presale_id: int, quantity: int, *, key: str | None = None
    ) -> PlacedOrder | AppError:
        data = PresaleOrderCreate(address_id=address_id, quantity=quantity)
        return await self._record(
            lambda session: checkout_service.place_presale_order(
                session,
                Principal(user.id, "customer"),
                presale_id,
                data,
                idempotency_key=key,
                store=self.backend,
            )
        )

    async def _record(self, place: Callable[[Any], Awaitable[PlacedOrder]]) -> PlacedOrder | AppError:
        outcome: PlacedOrder | AppError
        try:
            async with session_scope() as session:
                outcome = await place(session)
        except AppError as exc:
            outcome = exc
        self.outcomes.append(
            {"placed": outcome.order, "replayed": outcome.replayed}
            if isinstance(outcome, PlacedOrder)
            else {"refused": outcome.code, "status": outcome.status_code, **outcome.extra}
        )
        return outcome


# ---------------------------------------------------------------------------------------------- the cases


async def named_items_with_a_key(shop: Shop) -> None:
    """Two lines named out of order, a note, an Idempotency-Key; the same request again (the saved answer),
    then the same key with another body (refused), and an order without a key."""
    a = await shop.sku("a", price_fen=5990, stock=10)
    b = await shop.sku("b", price_fen=12900, stock=10, name="10kg 礼盒")
    user, address = await shop.customer("buyer")
    first = await shop.place(user, address.id, [(b, 2), (a, 1)], key="k-1", note="请放门口 'A' \\ 🌾")
    assert isinstance(first, PlacedOrder) and not first.replayed
    again = await shop.place(user, address.id, [(b, 2), (a, 1)], key="k-1", note="请放门口 'A' \\ 🌾")
    assert isinstance(again, PlacedOrder) and again.replayed and again.order == first.order
    await shop.place(user, address.id, [(a, 1)], key="k-1")
    await shop.place(user, address.id, [(a, 3)])


async def the_whole_cart(shop: Shop) -> None:
    """No items named: the cart's lines (capped at the stock left), the cart emptied of them; a second
    checkout of the now empty cart is refused."""
    a = await shop.sku("a", price_fen=2990, stock=3)
    b = await shop.sku("b", price_fen=4990, stock=50)
    user, address = await shop.customer("buyer", province="新疆维吾尔自治区")
    async with session_scope() as session:
        session.add_all(
            [
                CartItem(user_id=user.id, sku_id=b.id, quantity=2),
                CartItem(user_id=user.id, sku_id=a.id, quantity=5),
            ]
        )
    assert isinstance(await shop.place(user, address.id, None, key="cart-1"), PlacedOrder)
    await shop.place(user, address.id, None, key="cart-2")


async def out_of_stock(shop: Shop) -> None:
    """Every short line named, nothing reserved, the key let go: the next request with it is a new one."""
    plenty = await shop.sku("plenty", stock=9)
    short_a = await shop.sku("short_a", stock=1)
    short_b = await shop.sku("short_b", stock=0)
    user, address = await shop.customer("buyer")
    await shop.place(user, address.id, [(short_b, 1), (plenty, 3), (short_a, 2)], key="short")
    await shop.place(user, address.id, [(plenty, 9), (short_a, 1)], key="short")


async def too_many_unpaid_orders(shop: Shop) -> None:
    """The fourth unpaid order is refused; so is a line that would hold more than 20 units of one SKU
    unpaid; a repeated key still answers with its order at the limit."""
    sku = await shop.sku("a", stock=100)
    user, address = await shop.customer("buyer")
    for n in range(3):
        await shop.place(user, address.id, [(sku, 2)], key=f"u-{n}")
    await shop.place(user, address.id, [(sku, 1)], key="u-3")
    await shop.place(user, address.id, [(sku, 2)], key="u-0")


async def unit_limit(shop: Shop) -> None:
    sku = await shop.sku("a", stock=100)
    user, address = await shop.customer("buyer")
    await shop.place(user, address.id, [(sku, 15)])
    await shop.place(user, address.id, [(sku, 6)])


async def addresses_that_need_correction(shop: Shop) -> None:
    sku = await shop.sku("a", stock=5)
    user, marked = await shop.customer("buyer")
    async with session_scope() as session:
        await session.execute(update(Address).where(Address.id == marked.id).values(needs_correction=True))
    _other, mars = await shop.customer("other", province="火星")
    await shop.place(user, marked.id, [(sku, 1)], key="addr-1")
    await shop.place(_other, mars.id, [(sku, 1)], key="addr-2")
    await shop.place(user, mars.id, [(sku, 1)])  # someone else's address: not found


async def refusals_before_anything_is_read(shop: Shop) -> None:
    """Items not on sale, an unknown SKU, a coupon, too many lines or units: refused, nothing written."""
    on_sale = await shop.sku("on_sale", stock=5)
    inactive = await shop.sku("inactive", stock=5, is_active=False)
    draft = await shop.sku("draft", stock=5, product_status=ProductStatus.draft.value)
    user, address = await shop.customer("buyer")
    await shop.place(user, address.id, [(on_sale, 1), (inactive, 1), (draft, 1), (999_999_999, 1)])
    await shop.place(user, address.id, [(on_sale, 1)], coupon_code="WELCOME10")
    limits = get_settings()
    await shop.place(user, address.id, [(on_sale, limits.order_max_quantity_per_sku + 1)])
    many = [(sku_id, 1) for sku_id in range(1, limits.order_max_lines + 2)]
    await shop.place(user, address.id, many)  # type: ignore[arg-type]


async def an_expired_geographical_indication(shop: Shop) -> None:
    """BLOCK_SALE_ON_EXPIRED_GI: a product whose GI certificates all expired is refused; one with a valid
    certificate sells."""
    expired = await shop.sku("expired", stock=5)
    valid = await shop.sku("valid", stock=5)
    today = utcnow().date()
    await create_certificate(product_id=expired.product_id, valid_until=today - timedelta(days=1))
    await create_certificate(product_id=valid.product_id, valid_until=today + timedelta(days=30))
    user, address = await shop.customer("buyer")
    await shop.place(user, address.id, [(expired, 1), (valid, 1)], key="gi-1")
    await shop.place(user, address.id, [(valid, 1)], key="gi-2")


async def keys_left_by_other_requests(shop: Shop) -> None:
    """A key row whose request is still running answers 409; one left by a request that died long ago is
    taken over, and the order answers under it; a key used with another body is refused."""
    sku = await shop.sku("a", stock=5)
    user, address = await shop.customer("buyer")
    now = utcnow()
    async with session_scope() as session:
        for key, claimed_at in (("running", now), ("died", now - timedelta(hours=1))):
            session.add(
                IdempotencyKey(
                    user_id=user.id,
                    key=key,
                    request_hash=body_hash(
                        OrderCreate(address_id=address.id, items=[{"sku_id": sku.id, "quantity": 1}])
                    ),
                    claimed_at=claimed_at,
                    created_at=claimed_at,
                )
            )
    await shop.place(user, address.id, [(sku, 1)], key="running")
    await shop.place(user, address.id, [(sku, 1)], key="died")
    await shop.place(user, address.id, [(sku, 2)], key="died")


async def coupons_spent(shop: Shop) -> None:
    """A percent coupon scoped to a category (and its subcategory) covers one of two lines: the discount is
    rounded down, capped, and all on that line; the coupon is used by the order. The same code again is
    refused (used); another customer's code is unknown; a code in lower case is the same code."""
    rice = await create_category(name="五常大米")
    child = await create_category(name="稻花香", parent=rice)
    covered = await shop.sku("covered", price_fen=5990, stock=10, category=child)
    other = await shop.sku("other", price_fen=3990, stock=10)
    buyer, address = await shop.customer("buyer")
    neighbour, neighbours_address = await shop.customer("neighbour")
    await shop.coupon(
        "percent",
        buyer,
        "RICEPCT15AAA",
        kind="percent",
        amount_fen=None,
        percent_off=15,
        max_discount_fen=5000,
        category_ids=[rice.id],
    )
    await shop.coupon("manjian", buyer, "MANJIAN30AAA", amount_fen=3000, threshold_fen=19900)
    await shop.place(buyer, address.id, [(other, 1), (covered, 3)], key="c-1", coupon_code="ricepct15aaa")
    await shop.place(buyer, address.id, [(covered, 1)], coupon_code="RICEPCT15AAA")
    await shop.place(neighbour, neighbours_address.id, [(covered, 1)], coupon_code="MANJIAN30AAA")
    await shop.place(buyer, address.id, [(other, 5), (covered, 1)], coupon_code="MANJIAN30AAA")


async def coupons_refused(shop: Shop) -> None:
    """Below the threshold, out of scope, expired, not started: refused, nothing written and the coupon
    still unused; an order that fails on stock leaves its coupon unused too."""
    sku = await shop.sku("a", price_fen=12800, stock=1)
    elsewhere = await shop.sku("elsewhere", stock=5)
    buyer, address = await shop.customer("buyer")
    now = utcnow()
    await shop.coupon("manjian", buyer, "MANJIAN30BBB", amount_fen=3000, threshold_fen=19900)
    await shop.coupon("scoped", buyer, "SCOPEDXXXBBB", product_ids=[elsewhere.product_id])
    await shop.coupon("expired", buyer, "EXPIREDXXBBB", ends_at=now - timedelta(minutes=1))
    await shop.coupon("later", buyer, "LATERXXXXBBB", starts_at=now + timedelta(days=1))
    for code in ("MANJIAN30BBB", "SCOPEDXXXBBB", "EXPIREDXXBBB", "LATERXXXXBBB"):
        await shop.place(buyer, address.id, [(sku, 1)], coupon_code=code)
    await shop.place(buyer, address.id, [(sku, 2)], key="short", coupon_code="MANJIAN30BBB")


async def a_flash_sale(shop: Shop) -> None:
    """A flash sale of 3 units, 2 per customer: bought at the sale's price (the units come from the sale,
    taken from the SKU's stock when it was made), the same key again (the saved answer), past the limit,
    sold out, someone else's address, a sale not started yet, and an unknown sale."""
    sku = await shop.sku("a", price_fen=5990, stock=10)
    now = utcnow()
    sale = await create_flash_sale(sku, price_fen=3990, quantity=3, per_customer_limit=2)
    upcoming = await create_flash_sale(sku, quantity=1, starts_at=now + timedelta(hours=1))
    buyer, address = await shop.customer("buyer")
    other, other_address = await shop.customer("other")
    first = await shop.buy_flash(buyer, address.id, sale, 2, key="f-1")
    assert isinstance(first, PlacedOrder)
    again = await shop.buy_flash(buyer, address.id, sale, 2, key="f-1")
    assert isinstance(again, PlacedOrder) and again.replayed and again.order == first.order
    await shop.buy_flash(buyer, address.id, sale, 1)
    await shop.buy_flash(other, other_address.id, sale, 2)
    await shop.buy_flash(other, address.id, sale, 1)
    await shop.buy_flash(other, other_address.id, sale, 1, key="f-2")
    await shop.buy_flash(other, other_address.id, upcoming, 1)
    missing = FlashSale(id=999_999_999)
    await shop.buy_flash(other, other_address.id, missing, 1)


async def an_adoption(shop: Shop) -> None:
    """A plan of 3 shares: adopted at the share price with no shipping fee (the shares come from the plan,
    no stock is taken), the same key again (the saved answer), beyond the shares left, someone else's
    address, an unknown plan, and the last share."""
    farm = await field(stock=10, with_events=False)
    shop.name("sku", farm.sku.id, "bag")
    shop.name("product", farm.batch.product_id, "product of bag")
    plan = await create_plan(farm.plot, shares=3, share_price_fen=198_000)
    buyer, address = await shop.customer("buyer")
    other, other_address = await shop.customer("other")
    first = await shop.adopt(buyer, address.id, plan.id, 2, key="a-1")
    assert isinstance(first, PlacedOrder)
    again = await shop.adopt(buyer, address.id, plan.id, 2, key="a-1")
    assert isinstance(again, PlacedOrder) and again.replayed and again.order == first.order
    await shop.adopt(other, other_address.id, plan.id, 2)
    await shop.adopt(other, address.id, plan.id, 1)
    await shop.adopt(other, other_address.id, 999_999_999, 1)
    await shop.adopt(other, other_address.id, plan.id, 1, key="a-2")


async def a_presale(shop: Shop) -> None:
    """A pre-sale with a quota of 3 (the SKU's stock is not touched): a deposit order of 2 with a key, the
    same key again (the saved answer), past the quota, someone else's address, an unknown pre-sale, the
    last unit."""
    sku = await shop.sku("a", price_fen=5990, stock=10)
    presale = await create_presale(sku, quota=3)
    buyer, address = await shop.customer("buyer")
    other, other_address = await shop.customer("other")
    first = await shop.order_presale(buyer, address.id, presale.id, 2, key="p-1")
    assert isinstance(first, PlacedOrder)
    again = await shop.order_presale(buyer, address.id, presale.id, 2, key="p-1")
    assert isinstance(again, PlacedOrder) and again.replayed and again.order == first.order
    await shop.order_presale(other, other_address.id, presale.id, 2)
    await shop.order_presale(other, address.id, presale.id, 1)
    await shop.order_presale(other, other_address.id, 999_999_999, 1)
    await shop.order_presale(other, other_address.id, presale.id, 1, key="p-2")


CASES: dict[str, Callable[[Shop], Awaitable[None]]] = {
    case.__name__: case
    for case in (
        named_items_with_a_key,
        the_whole_cart,
        out_of_stock,
        too_many_unpaid_orders,
        unit_limit,
        addresses_that_need_correction,
        refusals_before_anything_is_read,
        an_expired_geographical_indication,
        keys_left_by_other_requests,
        coupons_spent,
        coupons_refused,
        a_flash_sale,
        an_adoption,
        a_presale,
    )
}
# The rows of a kind's own tables, for its cases only (the other cases' recordings stay as they are).
CASE_TABLES: dict[str, tuple[Any, ...]] = {
    "an_adoption": (AdoptionPlan, Adoption),
    "a_presale": (Presale, PresaleOrder),
}


# ---------------------------------------------------------------------------------------------- the rows

TABLES = (
    Order,
    OrderItem,
    OrderHistory,
    OutboxEvent,
    IdempotencyKey,
    CartItem,
    CouponClaim,
    FlashSale,
    FlashSalePurchase,
)
# Which kind of id a field holds (ids are compared by name).
ID_KINDS = {
    "user_id": "user",
    "actor_id": "user",
    "sku_id": "sku",
    "sku_ids": "sku",
    "product_id": "product",
    "product_ids": "product",
    "address_id": "address",
    "order_id": "order",
    "coupon_id": "coupon",
    "sale_id": "flash_sale",
    "flash_sale_id": "flash_sale",
    "created_by": "user",
    "plan_id": "adoption_plan",
    "plot_id": "plot",
    "presale_id": "presale",
}
TIME = "<time>"
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


class Names:
    def __init__(self, known: dict[tuple[str, int], str]) -> None:
        self.known = dict(known)

    def of(self, kind: str, row_id: int) -> str:
        if (kind, row_id) not in self.known:
            same_kind = sum(1 for k, _ in self.known if k == kind)
            self.known[(kind, row_id)] = f"{kind}{same_kind + 1}"
        return self.known[(kind, row_id)]

    def value(self, key: str, value: Any, id_kind: str = "order") -> Any:
        if isinstance(value, dict):
            return {k: self.value(k, v, "item" if key == "items" else id_kind) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(key, v, id_kind) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if key == "order_no":
            assert re.fullmatch(r"\d{20}", value), value
            return "<order_no>"
        if key == "request_hash":  # of a body with ids in it (the same function on every store)
            assert re.fullmatch(r"[0-9a-f]{64}", value), value
            return "<sha256>"
        if key == "event_id":
            assert re.fullmatch(r"[0-9a-f-]{36}", value), value
            return "<uuid>"
        if isinstance(value, datetime) or (isinstance(value, str) and ISO_TIME.match(value)):
            return TIME
        if key == "id" and isinstance(value, int):
            return self.of(id_kind, value)
        if key in ID_KINDS and isinstance(value, int):
            return self.of(ID_KINDS[key], value)
        if key == "subject" and isinstance(value, str):
            kind, _, row_id = value.partition("/")
            return f"{kind}/{self.of(kind, int(row_id))}"
        if key == "response_body" and isinstance(value, str):
            return self.value("", json.loads(value))
        return value


async def rows_left(shop: Shop, extra_tables: tuple[Any, ...] = ()) -> dict[str, Any]:
    names = Names(shop.names)
    out: dict[str, Any] = {"answers": None}
    async with session_scope() as session:
        for kind in ("order", "item"):  # named in the order they were made
            model = Order if kind == "order" else OrderItem
            for row_id in (await session.execute(select(model.id).order_by(model.id))).scalars():
                names.of(kind, row_id)
        for model in (*TABLES, *extra_tables):
            table = model.__table__
            id_kind = {
                "orders": "order",
                "order_items": "item",
                "flash_sales": "flash_sale",
                "adoption_plans": "adoption_plan",
                "presales": "presale",
            }.get(table.name)
            rows = (await session.execute(select(table).order_by(table.c.id))).mappings().all()
            out[table.name] = [
                {
                    column: names.value(column, value, id_kind or "")
                    for column, value in row.items()
                    if column != "id" or id_kind
                }
                for row in rows
            ]
        stock = (await session.execute(select(Sku.id, Sku.stock).order_by(Sku.id))).all()
        out["stock"] = {names.of("sku", sku_id): n for sku_id, n in stock}
    out["answers"] = names.value("", shop.outcomes)
    return out


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("case", list(CASES))
async def test_the_store_writes_the_recorded_rows(store: type[Backend], case: str, monkeypatch) -> None:
    if case == "an_expired_geographical_indication":
        monkeypatch.setattr(get_settings(), "block_sale_on_expired_gi", True)
    shop = Shop(store())
    await CASES[case](shop)
    written = json.loads(
        json.dumps(await rows_left(shop, CASE_TABLES.get(case, ())), ensure_ascii=False, sort_keys=True)
    )
    recorded = RECORDED / f"{case}.json"
    if RECORD and store is OrmBackend:
        recorded.parent.mkdir(exist_ok=True)
        recorded.write_text(json.dumps(written, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    assert written == json.loads(recorded.read_text())
