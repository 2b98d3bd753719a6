"""The checkout pipeline's seams: the request parser shared by the route and the fast path, the store
chosen once per database, order kinds as data and steps, and the lean store's INSERTs generated from the
models (a required column cannot be filled on one path only)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import Column, Integer, MetaData, String, select

from app.checkout import pipeline, stores
from app.checkout import request as checkout_request
from app.checkout import service as checkout_service
from app.checkout.service import LeanBackend, OrmBackend
from app.db import session_scope
from app.orders.models import Order, OrderItem
from app.orders.schemas import OrderCreate
from app.users.models import Principal
from tests.conftest import IS_MYSQL
from tests.orders.factories import customer, sku_on_sale, stock_of

STORES = [
    pytest.param(OrmBackend, id="ORM store"),
    pytest.param(LeanBackend, id="lean store", marks=pytest.mark.mysql_only),
]


class TestTheRequestParser:
    # The pattern FastAPI checks the header against (what the route accepts).
    HEADER_PATTERN = re.compile(
        next(
            m.pattern
            for m in checkout_request.IdempotencyKeyHeader.__metadata__[0].metadata
            if getattr(m, "pattern", None)
        )
    )

    @pytest.mark.parametrize(
        "raw",
        [
            b"k",
            b"order-2026-11-30-0001",
            b"x" * 255,
            b"x" * 256,
            b"",
            b"has space",
            b"tab\there",
            b"new\nline",
            b"\x7f",
            b"\x00",
            "中文".encode(),
            b"caf\xc3\xa9",
            b"~!@#$%^&*()_+{}|:<>?",
        ],
    )
    def test_the_fast_path_takes_exactly_the_keys_the_route_accepts(self, raw: bytes) -> None:
        text = raw.decode("latin-1")
        route_accepts = 1 <= len(text) <= checkout_request.KEY_MAX_LENGTH and bool(
            self.HEADER_PATTERN.fullmatch(text)
        )
        assert checkout_request.valid_key(raw) is route_accepts

    @pytest.mark.parametrize(
        "body",
        [b"", b"{", b"[]", b'{"address_id": 1, "extra": 1}', b'{"address_id": "x"}', b'{"address_id": 0}'],
    )
    def test_a_body_that_is_not_an_order_is_left_to_the_route(self, body: bytes) -> None:
        assert checkout_request.parse_order(body) is None

    def test_the_same_order_hashes_alike_however_it_is_written(self) -> None:
        a = checkout_request.parse_order(b'{"address_id": 7, "items": [{"sku_id": 1, "quantity": 2}]}')
        b = checkout_request.parse_order(
            b'{"items": [{"quantity": 2, "sku_id": 1}], "note": "", "address_id": 7, "coupon_code": null}'
        )
        assert a is not None and b is not None
        assert checkout_request.body_hash(a) == checkout_request.body_hash(b)


class TestOneStorePerDatabase:
    def test_the_store_is_chosen_once_by_the_database(self) -> None:
        chosen = checkout_service.backend()
        assert checkout_service.backend() is chosen
        assert isinstance(chosen, LeanBackend if IS_MYSQL else OrmBackend)


async def _half_price(c: pipeline.Checkout) -> None:
    await pipeline.price(c)
    for item in c.items:
        item["unit_price_fen"] //= 2
        item["subtotal_fen"] = item["unit_price_fen"] * item["quantity"]
    c.subtotal_fen = sum(item["subtotal_fen"] for item in c.items)


# A made-up flash sale at half the list price: a kind is its stored name and its steps.
HALF_PRICE = pipeline.OrderKind(
    "flash_sale", tuple(_half_price if step is pipeline.price else step for step in pipeline.STANDARD.steps)
)


@pytest.mark.parametrize("store", STORES)
class TestOrderKindsPlugInAsSteps:
    async def test_a_kind_with_its_own_price_step_is_an_ordinary_order_on_every_store(self, store) -> None:
        sku = await sku_on_sale(price_fen=5990, stock=5)
        user, address = await customer()
        data = OrderCreate(address_id=address.id, items=[{"sku_id": sku.id, "quantity": 2}])
        async with session_scope() as session:
            placed = await checkout_service.place_order(
                session,
                Principal(user.id, "customer"),
                data,
                idempotency_key="half-1",
                kind=HALF_PRICE,
                store=store(),
            )
        assert placed.order["items"][0]["unit_price_fen"] == 2995
        assert placed.order["subtotal_fen"] == 5990 and placed.order["total_fen"] == 5990 + 1000
        assert await stock_of(sku.id) == 3
        async with session_scope() as session:
            total = (await session.execute(select(Order.total_fen))).scalar_one()
        assert total == placed.order["total_fen"]

    async def test_the_rows_a_kind_builds_are_the_columns_the_stores_were_checked_against(
        self, store, monkeypatch
    ) -> None:
        built: list[tuple[set[str], list[set[str]]]] = []

        async def recording(c: pipeline.Checkout) -> None:
            real = c.store.insert_order_and_items

            async def insert(order, items):
                built.append((set(order), [set(item) for item in items]))
                return await real(order, items)

            c.store.insert_order_and_items = insert  # type: ignore[method-assign]
            await pipeline.persist(c)

        kind = pipeline.OrderKind(
            "standard", tuple(recording if s is pipeline.persist else s for s in pipeline.STANDARD.steps)
        )
        sku = await sku_on_sale(stock=5)
        user, address = await customer()
        data = OrderCreate(address_id=address.id, items=[{"sku_id": sku.id, "quantity": 1}])
        async with session_scope() as session:
            await checkout_service.place_order(
                session, Principal(user.id, "customer"), data, idempotency_key=None, kind=kind, store=store()
            )
        assert built == [(set(stores.ORDER_FIELDS), [set(stores.ITEM_FIELDS)])]


def _orders_with(*extra: Column):
    table = Order.__table__.to_metadata(MetaData())
    for column in extra:
        table.append_column(column)
    return table


class TestInsertsFromTheModels:
    def test_every_column_of_the_models_is_written_but_the_generated_id(self) -> None:
        for insert, model, by_server in (
            (stores.ORDER_INSERT, Order, set()),
            (stores.ITEM_INSERT, OrderItem, {"order_id"}),
        ):
            written = set(re.findall(r"`(\w+)`", insert.sql))
            assert written == {c.name for c in model.__table__.columns} - {"id"}
            assert {c.name for c in insert.columns} == written - by_server

    def test_a_required_column_nobody_fills_fails_at_import(self) -> None:
        table = _orders_with(Column("gift_wrap", String(16), nullable=False))
        with pytest.raises(RuntimeError, match=r"gift_wrap"):
            stores.check_covered(table, stores.ORDER_FIELDS)

    @pytest.mark.parametrize(
        "column",
        [
            Column("gift_wrap", String(16), nullable=False, default="none"),
            Column("gift_wrap", String(16), nullable=False, default=lambda: "none"),
            Column("gift_wrap", String(16), nullable=False, server_default="none"),
            Column("gift_wrap", String(16), nullable=True),
        ],
        ids=["Python default", "Python callable default", "server default", "nullable"],
    )
    def test_a_new_column_with_a_default_is_filled_by_the_lean_store_as_by_the_orm(self, column) -> None:
        table = _orders_with(column)
        insert = stores._Insert(table, stores.ORDER_FIELDS)
        params = dict(zip([c.name for c in insert.columns], insert.params({"order_no": "1"}), strict=True))
        expected = None if column.default is None else "none"
        assert params["gift_wrap"] == expected
        assert params["order_no"] == "1" and params["paid_at"] is None

    def test_an_integer_default_is_taken_as_is(self) -> None:
        table = _orders_with(Column("points", Integer, nullable=False, default=0))
        insert = stores._Insert(table, stores.ORDER_FIELDS)
        params = dict(zip([c.name for c in insert.columns], insert.params({}), strict=True))
        assert params["points"] == 0 and params["discount_fen"] == 0 and params["status"] == "pending_payment"


def test_checkout_is_a_dataclass_with_slots() -> None:
    """Steps fill a typed record, not a free-form dict: a misspelt field fails loudly."""
    assert dataclasses.is_dataclass(pipeline.Checkout)
    assert not hasattr(pipeline.Checkout(pipeline.STANDARD, None, 1, None), "__dict__")  # type: ignore[arg-type]
