"""Attacks on the shop's business rules (issue 13, items 3 and 4, and the address and refund caps), each tried in
many variants:

* the remote-area surcharge dodged by spelling a remote province another way (invisible and format characters,
  full-width letters, a 中国 prefix, short and long forms, traditional and variant characters, pinyin, English);
* a province that is no province at all (422, nothing stored);
* one customer reserving all stock with unpaid orders, on every checkout path;
* unlimited addresses per customer;
* a refund request → reject loop without end.

Concurrency (parallel requests slipping past a limit) is proven on MariaDB in
tests/orders/test_unpaid_limits_concurrency.py.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select, update

from app.checkout import pipeline as checkout_pipeline
from app.config import get_settings
from app.db import session_scope, utcnow
from app.events import OutboxEvent
from app.kit import regions
from app.main import create_app
from app.orders import jobs as orders_jobs
from app.orders import service as orders_service
from app.orders.models import Order, OrderStatus
from app.users.models import Address
from app.users.schemas import AddressCreate
from tests.orders.factories import (
    count_orders,
    customer,
    paid_order,
    pay,
    shipped_order,
    sku_on_sale,
    staff,
    stock_of,
)
from tests.orders.factories import place as place_named
from tests.problems import assert_problem
from tests.users.factories import auth, create_address, create_user

# ---------------------------------------------------------------------------------------------- provinces

# Every remote province (the default SHIPPING_REMOTE_PROVINCES) and the ways people write it.
REMOTE_SPELLINGS: dict[str, list[str]] = {
    "新疆维吾尔自治区": [
        "新疆维吾尔自治区",
        "新疆",
        "新疆省",
        "新疆自治区",
        "新疆维吾尔族自治区",
        "新疆維吾爾自治區",
        "Xinjiang",
        "xinjiang uygur",
        "Xinjiang Uyghur Autonomous Region",
        "XīnJiāng Wéiwú'ěr Zìzhìqū",
    ],
    "西藏自治区": ["西藏自治区", "西藏", "西藏省", "\u2ec4藏", "Tibet", "Xizang", "Tibet Autonomous Region"],
    "青海省": ["青海省", "青海", "靑海", "Qinghai", "qinghai sheng"],
    "内蒙古自治区": [
        "内蒙古自治区",
        "内蒙古",
        "内蒙",
        "內蒙古",
        "內蒙古自治區",
        "Inner Mongolia",
        "Nei Mongol",
        "neimenggu",
    ],
    "宁夏回族自治区": [
        "宁夏回族自治区",
        "宁夏",
        "寧夏",
        "寧夏回族自治區",
        "Ningxia",
        "Ningxia Hui Autonomous Region",
    ],
    "甘肃省": ["甘肃省", "甘肃", "甘肅", "甘肅省", "Gansu", "Gansu Province"],
    "海南省": ["海南省", "海南", "海南省 ", "Hainan", "hainan sheng"],
}
SPELLINGS = [(name, spelling) for name, spellings in REMOTE_SPELLINGS.items() for spelling in spellings]

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u00ad",  # soft hyphen
    "\u200e",  # left-to-right mark
    "\u202e",  # right-to-left override
    "\u180e",  # Mongolian vowel separator
    "\u034f",  # combining grapheme joiner
    "\ufe0f",  # variation selector
    "\u3164",  # Hangul filler
    "\u3000",  # ideographic space
    "\u00a0",  # no-break space
    "\t",
]


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# Disguises an attacker wraps a spelling in; each keeps the province the same.
DISGUISES: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "zero-width in front": lambda s: "\u200b" + s,
    "BOM in front": lambda s: "\ufeff" + s,
    "joiner between every character": lambda s: "\u200d".join(s),
    "soft hyphen inside": lambda s: s[:1] + "\u00ad" + s[1:],
    "bidi marks around": lambda s: "\u202a" + s + "\u202c",
    "ideographic spaces around": lambda s: "\u3000" + s + "\u3000",
    "中国 in front": lambda s: "中国" + s,
    "中华人民共和国 in front": lambda s: "中华人民共和国" + s,
    "中國· in front": lambda s: "中國·" + s,
    "full-width letters": _full_width,
    "variation selector after each": lambda s: "".join(ch + "\ufe0f" for ch in s),
    "upper case": str.upper,
}
DISGUISE_NAMES = list(DISGUISES)


def _disguised_cases() -> list[tuple[str, str, str]]:
    """Every spelling of every remote province, each in one disguise (taking turns) — the API cases."""
    names = itertools.cycle(DISGUISE_NAMES)
    return [(name, spelling, next(names)) for name, spelling in SPELLINGS]


ADDRESS = {
    "recipient": "阿依古丽",
    "phone": "13912345678",
    "city": "乌鲁木齐市",
    "district": "天山区",
    "detail": "解放北路 1 号",
}


async def _address_count(user_id: int) -> int:
    async with session_scope() as session:
        return (
            await session.execute(select(func.count()).select_from(Address).where(Address.user_id == user_id))
        ).scalar_one()


class TestRemoteProvinceSurcharge:
    @pytest.mark.parametrize(("canonical", "spelling", "disguise"), _disguised_cases())
    async def test_every_spelling_of_a_remote_province_pays_the_surcharge(
        self, client, canonical, spelling, disguise
    ):
        settings_ = get_settings()
        user = await create_user()
        sku = await sku_on_sale(price_fen=5990)  # under the free-shipping threshold
        typed = DISGUISES[disguise](spelling)

        saved = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": typed}, headers=auth(user)
        )

        assert saved.status_code == 201, saved.text
        assert saved.json()["province"] == canonical and saved.json()["needs_correction"] is False
        order = await client.post(
            "/api/orders",
            json={"address_id": saved.json()["id"], "items": [{"sku_id": sku.id, "quantity": 1}]},
            headers=auth(user),
        )
        assert order.status_code == 201, order.text
        assert order.json()["address"]["province"] == canonical
        assert order.json()["shipping_fen"] == (
            settings_.shipping_flat_fee_fen + settings_.shipping_remote_surcharge_fen
        )

    @pytest.mark.parametrize(("canonical", "spelling"), SPELLINGS[::3])
    async def test_changing_an_address_to_a_disguised_remote_province_pays_it_too(
        self, client, canonical, spelling
    ):
        user, address = await customer(province="黑龙江省")
        sku = await sku_on_sale(price_fen=5990)
        changed = await client.patch(
            f"/api/users/me/addresses/{address.id}",
            json={"province": "\u200b中国" + spelling + "\u2060"},
            headers=auth(user),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["province"] == canonical
        order = await place_named(client, user, address, [(sku.id, 1)])
        assert order.status_code == 201, order.text
        assert order.json()["shipping_fen"] == 1000 + 1500

    @pytest.mark.parametrize("province", ["\u200b新疆", "中国新疆", "Xinjiang", "新疆維吾爾自治區", "青海"])
    async def test_a_row_written_around_the_api_is_still_charged_by_its_canonical_name(
        self, client, province
    ):
        """Rows written before provinces were checked (or by a script) are judged by their canonical name."""
        user, address = await customer(province=province)
        sku = await sku_on_sale(price_fen=5990)
        order = await place_named(client, user, address, [(sku.id, 1)])
        assert order.status_code == 201, order.text
        assert order.json()["shipping_fen"] == 2500
        assert order.json()["address"]["province"] == regions.canonical(province)

    async def test_free_shipping_threshold_still_charges_the_remote_surcharge(self, client):
        user = await create_user()
        sku = await sku_on_sale(price_fen=20000)
        saved = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": "\ufeffXinjiang"}, headers=auth(user)
        )
        order = await client.post(
            "/api/orders",
            json={"address_id": saved.json()["id"], "items": [{"sku_id": sku.id, "quantity": 1}]},
            headers=auth(user),
        )
        assert order.json()["shipping_fen"] == 1500

    @pytest.mark.parametrize(
        "province", ["黑龙江省", "北京", "上海市", "广东", "廣東省", "Zhejiang", "香港", "臺灣", "shaanxi"]
    )
    async def test_ordinary_provinces_pay_the_ordinary_fee(self, client, province):
        user = await create_user()
        sku = await sku_on_sale(price_fen=5990)
        saved = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": province}, headers=auth(user)
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["province"] in regions.PROVINCES
        order = await client.post(
            "/api/orders",
            json={"address_id": saved.json()["id"], "items": [{"sku_id": sku.id, "quantity": 1}]},
            headers=auth(user),
        )
        assert order.json()["shipping_fen"] == 1000

    def test_old_short_forms_in_the_setting_still_mean_their_provinces(self):
        from app.config import Settings

        configured = Settings(shipping_remote_provinces=["新疆", "西藏", "Qinghai", "內蒙古"])
        assert configured.shipping_remote_provinces == [
            "新疆维吾尔自治区",
            "西藏自治区",
            "青海省",
            "内蒙古自治区",
        ]
        with pytest.raises(ValidationError):
            Settings(shipping_remote_provinces=["新疆", "火星"])


@st.composite
def disguised_remote_province(draw: st.DrawFn) -> tuple[str, str]:
    """A remote province's spelling, wrapped in any number of disguises, with invisible characters sprinkled
    anywhere."""
    canonical, spelling = draw(st.sampled_from(SPELLINGS))
    for name in draw(st.lists(st.sampled_from(DISGUISE_NAMES), max_size=3, unique=True)):
        spelling = DISGUISES[name](spelling)
    chars = list(spelling)
    for _ in range(draw(st.integers(0, 4))):
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(INVISIBLE)))
    typed = "".join(chars)
    assume(len(typed) <= 64)  # the field's length limit (longer is a 422 of its own)
    return canonical, typed


class TestProvinceNormalisation:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(disguised_remote_province())
    def test_any_disguise_of_a_remote_province_is_that_province_and_pays_the_surcharge(self, case):
        canonical, typed = case
        data = AddressCreate.model_validate({**ADDRESS, "province": typed})
        assert data.province == canonical
        assert checkout_pipeline.shipping_fee(5990, data.province) == 2500
        assert checkout_pipeline.shipping_fee(99_00, data.province) == 1500

    @settings(max_examples=400, deadline=None)
    @given(st.text(max_size=40))
    def test_any_text_is_either_refused_or_one_of_the_34_divisions(self, text):
        try:
            data = AddressCreate.model_validate({**ADDRESS, "province": text})
        except ValidationError as exc:
            assert [e["loc"] for e in exc.errors()] == [("province",)]
            return
        assert data.province in regions.PROVINCES
        assert regions.canonical(data.province) == data.province

    @pytest.mark.parametrize("name", regions.PROVINCES)
    def test_each_division_maps_to_itself_by_full_short_and_pinyin_name(self, name):
        division = regions.BY_NAME[name]
        for form in (name, division.short, *division.latin, division.latin[0].upper()):
            assert regions.canonical(form) == name, form
        assert len(regions.PROVINCES) == 34


GARBAGE = [
    "",
    " ",
    "\u200b",
    "\u200b\u200c\ufeff",
    "中国",
    "火星",
    "新疆乌鲁木齐",
    "乌鲁木齐市",
    "新疆1",
    "新疆<script>alert(1)</script>",
    "Xinjiang1",
    "Xinjiangg",
    "\u0425injiang",  # Cyrillic Ха in front
    "X\u0456njiang",  # Cyrillic і inside
    "1' OR '1'='1",
    "新疆新疆",
    "新" * 65,
    "新疆" + "\u200b" * 70,
    "Atlantis Autonomous Region",
    "😀",
]


class TestProvinceGarbage:
    @pytest.mark.parametrize("province", GARBAGE)
    async def test_a_province_that_is_no_province_is_422_and_stores_nothing(self, client, province):
        user = await create_user()
        response = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": province}, headers=auth(user)
        )
        body = assert_problem(response, 422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["body", "province"]]
        assert await _address_count(user.id) == 0

    @pytest.mark.parametrize("province", GARBAGE[::2])
    async def test_changing_to_a_province_that_is_no_province_is_422_and_changes_nothing(
        self, client, province
    ):
        user, address = await customer(province="新疆维吾尔自治区")
        response = await client.patch(
            f"/api/users/me/addresses/{address.id}",
            json={"province": province, "detail": "新的地址"},
            headers=auth(user),
        )
        assert_problem(response, 422, "validation_error")
        async with session_scope() as session:
            stored = await session.get(Address, address.id)
        assert (stored.province, stored.detail) == ("新疆维吾尔自治区", address.detail)

    @pytest.mark.parametrize("province", ["火星", "新疆乌鲁木齐", "\u200b", "Atlantis"])
    async def test_a_stored_province_that_maps_to_nothing_is_refused_at_checkout(self, client, province):
        """Even a row that is not marked (written around the API) cannot be checked out with."""
        user, address = await customer(province=province)
        sku = await sku_on_sale(stock=5)
        response = await place_named(client, user, address, [(sku.id, 1)])
        assert_problem(response, 409, "address_needs_correction")
        assert (await count_orders(), await stock_of(sku.id)) == (0, 5)


# ---------------------------------------------------------------------------------------------- unpaid orders

CHECKOUT_PATHS = ["fast path", "route", "whole cart", "GI guard"]
Place = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
async def routes_only() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(fast_paths=False), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(params=CHECKOUT_PATHS)
async def checkout(request, client, routes_only, monkeypatch) -> Place:
    """Places an order on one of the checkout paths: the fast path (on MariaDB the lean store), the route
    itself, the whole cart (the session store), and named items with the expired-GI guard on (the session
    store with the guard's reads)."""
    path = request.param
    if path == "GI guard":
        monkeypatch.setattr(get_settings(), "block_sale_on_expired_gi", True)

    async def place(user, address, lines: list[tuple[int, int]], key: str | None = None) -> httpx.Response:
        if path == "whole cart":
            headers = auth(user)
            for item in (await client.get("/api/cart", headers=headers)).json()["items"]:
                await client.delete(f"/api/cart/items/{item['sku_id']}", headers=headers)
            for sku_id, qty in lines:
                put = await client.put(f"/api/cart/items/{sku_id}", json={"quantity": qty}, headers=headers)
                assert put.status_code == 200, put.text
            return await place_named(client, user, address, None, key=key)
        return await place_named(routes_only if path == "route" else client, user, address, lines, key=key)

    return place


async def _created_events() -> int:
    async with session_scope() as session:
        return (
            await session.execute(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "order.created")
            )
        ).scalar_one()


class TestUnpaidOrderLimits:
    async def test_a_fourth_unpaid_order_is_refused_and_reserves_nothing(self, checkout):
        user, address = await customer()
        sku = await sku_on_sale(stock=100)
        for _ in range(3):
            assert (await checkout(user, address, [(sku.id, 2)])).status_code == 201

        refused = await checkout(user, address, [(sku.id, 2)])

        body = assert_problem(refused, 409, "too_many_unpaid_orders")
        assert body["limit"] == 3 and "sku_ids" not in body
        assert (await count_orders(), await stock_of(sku.id), await _created_events()) == (3, 94, 3)

    async def test_paying_cancelling_or_expiring_an_order_frees_its_place(self, checkout, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=100)
        orders = [(await checkout(user, address, [(sku.id, 1)])).json() for _ in range(3)]
        assert (await checkout(user, address, [(sku.id, 1)])).status_code == 409

        await pay(orders[0]["id"])
        assert (await checkout(user, address, [(sku.id, 1)])).status_code == 201
        cancelled = await client.post(f"/api/orders/{orders[1]['id']}/cancel", headers=auth(user))
        assert cancelled.status_code == 200
        assert (await checkout(user, address, [(sku.id, 1)])).status_code == 201
        async with session_scope() as session:
            await session.execute(
                update(Order)
                .where(Order.id == orders[2]["id"])
                .values(pay_deadline=utcnow() - timedelta(seconds=1))
            )
        async with session_scope() as session:
            assert await orders_jobs.cancel_expired(session) == 1
        assert (await checkout(user, address, [(sku.id, 1)])).status_code == 201
        assert (await checkout(user, address, [(sku.id, 1)])).status_code == 409

    @pytest.mark.parametrize(
        ("held", "wanted", "allowed"),
        [
            ([15], 5, True),
            ([15], 6, False),
            ([20], 1, False),
            ([], 21, False),
            ([], 20, True),
            ([7, 7], 6, True),
            ([7, 7], 7, False),
        ],
    )
    async def test_units_of_one_sku_across_unpaid_orders_are_capped(
        self, checkout, monkeypatch, held, wanted, allowed
    ):
        user, address = await customer()
        sku, other = await sku_on_sale(stock=500), await sku_on_sale(stock=500)
        for qty in held:
            assert (await checkout(user, address, [(sku.id, qty)])).status_code == 201

        response = await checkout(user, address, [(other.id, 1), (sku.id, wanted)])

        if allowed:
            assert response.status_code == 201, response.text
        else:
            body = assert_problem(response, 409, "too_many_unpaid_orders")
            assert body["sku_ids"] == [sku.id] and body["limit"] == 20
            assert await stock_of(sku.id) == 500 - sum(held)
            assert await stock_of(other.id) == 500
            assert await count_orders() == len(held)

    @pytest.mark.parametrize(("orders", "units"), [(1, 20), (2, 5), (5, 3)])
    async def test_the_limits_follow_the_settings(self, checkout, monkeypatch, orders, units):
        monkeypatch.setattr(get_settings(), "max_unpaid_orders_per_customer", orders)
        monkeypatch.setattr(get_settings(), "max_unpaid_units_per_sku", units)
        user, address = await customer()
        skus = [await sku_on_sale(stock=100) for _ in range(orders + 1)]
        for sku in skus[:orders]:
            assert (await checkout(user, address, [(sku.id, 1)])).status_code == 201
        assert_problem(await checkout(user, address, [(skus[-1].id, 1)]), 409, "too_many_unpaid_orders")
        paid_one = await pay_first_unpaid(user.id)
        assert paid_one
        assert (await checkout(user, address, [(skus[-1].id, units)])).status_code == 201

    async def test_one_customers_unpaid_orders_do_not_limit_another(self, checkout):
        hoarder, hoarders_address = await customer()
        buyer, buyers_address = await customer()
        sku = await sku_on_sale(stock=100)
        for _ in range(3):
            await checkout(hoarder, hoarders_address, [(sku.id, 20)])
        assert (await checkout(buyer, buyers_address, [(sku.id, 20)])).status_code == 201

    async def test_a_repeated_idempotency_key_still_answers_with_its_order_at_the_limit(self, checkout):
        user, address = await customer()
        sku = await sku_on_sale(stock=100)
        await checkout(user, address, [(sku.id, 1)])
        await checkout(user, address, [(sku.id, 1)])
        third = await checkout(user, address, [(sku.id, 1)], key="third-order")
        assert third.status_code == 201, third.text

        again = await checkout(user, address, [(sku.id, 1)], key="third-order")

        assert (again.status_code, again.json()) == (201, third.json())
        assert (await count_orders(), await stock_of(sku.id)) == (3, 97)
        fourth = await checkout(user, address, [(sku.id, 1)], key="fourth-order")
        assert_problem(fourth, 409, "too_many_unpaid_orders")
        # A refused key is not kept: once there is room, the same key places the order.
        await pay_first_unpaid(user.id)
        assert (await checkout(user, address, [(sku.id, 1)], key="fourth-order")).status_code == 201


async def pay_first_unpaid(user_id: int) -> bool:
    async with session_scope() as session:
        order_id = (
            await session.execute(
                select(Order.id)
                .where(Order.user_id == user_id, Order.status == OrderStatus.pending_payment.value)
                .order_by(Order.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    return order_id is not None and (await pay(order_id)).changed


# ---------------------------------------------------------------------------------------------- addresses


class TestAddressCap:
    @pytest.mark.parametrize("limit", [1, 3, 20])
    async def test_past_the_cap_a_new_address_is_409_and_nothing_is_stored(self, client, monkeypatch, limit):
        if limit != 20:
            monkeypatch.setattr(get_settings(), "max_addresses_per_customer", limit)
        user = await create_user()
        for i in range(limit):
            made = await client.post(
                "/api/users/me/addresses",
                json={**ADDRESS, "province": "北京市", "detail": f"{i} 号"},
                headers=auth(user),
            )
            assert made.status_code == 201, made.text

        refused = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": "北京市"}, headers=auth(user)
        )

        body = assert_problem(refused, 409, "too_many_addresses")
        assert body["limit"] == limit
        assert await _address_count(user.id) == limit
        # Deleting one makes room again.
        first = (await client.get("/api/users/me/addresses", headers=auth(user))).json()[0]
        await client.delete(f"/api/users/me/addresses/{first['id']}", headers=auth(user))
        again = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": "北京市"}, headers=auth(user)
        )
        assert again.status_code == 201

    async def test_addresses_of_others_do_not_count(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "max_addresses_per_customer", 2)
        crowded = await create_user()
        for _ in range(2):
            await create_address(crowded)
        user = await create_user()
        made = await client.post(
            "/api/users/me/addresses", json={**ADDRESS, "province": "北京市"}, headers=auth(user)
        )
        assert made.status_code == 201


# ---------------------------------------------------------------------------------------------- refunds


async def _refund_requests(order_id: int) -> int:
    async with session_scope() as session:
        order = await orders_service.get_or_raise(session, order_id)
        return orders_service.refund_requests_made(order.history)


class TestRefundRequestLoop:
    @pytest.mark.parametrize("limit", [1, 2, 3])
    @pytest.mark.parametrize("state", ["paid", "shipped"])
    async def test_after_the_cap_of_rejected_requests_another_is_409_and_changes_nothing(
        self, client, monkeypatch, limit, state
    ):
        if limit != 3:
            monkeypatch.setattr(get_settings(), "max_refund_requests_per_order", limit)
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        make = paid_order if state == "paid" else shipped_order
        order = await make(client, user, address, sku)
        clerk = auth(await staff())
        for round_ in range(limit):
            asked = await client.post(
                f"/api/orders/{order['id']}/refund-request",
                json={"reason": f"第{round_}次"},
                headers=auth(user),
            )
            assert asked.status_code == 200 and asked.json()["status"] == "refunding", asked.text
            rejected = await client.post(
                f"/api/admin/orders/{order['id']}/refund-reject", json={"reason": "不符合"}, headers=clerk
            )
            assert rejected.json()["status"] == state

        refused = await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "再来一次"}, headers=auth(user)
        )

        body = assert_problem(refused, 409, "refund_request_limit_reached")
        assert body["limit"] == limit
        read = await client.get(f"/api/orders/{order['id']}", headers=auth(user))
        assert read.json()["status"] == state and read.json()["refund_reason"] == f"第{limit - 1}次"
        assert await _refund_requests(order["id"]) == limit

    async def test_an_approved_request_within_the_cap_still_refunds(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        order = await paid_order(client, user, address, sku)
        clerk = auth(await staff())
        for _ in range(2):
            await client.post(
                f"/api/orders/{order['id']}/refund-request", json={"reason": "a"}, headers=auth(user)
            )
            await client.post(
                f"/api/admin/orders/{order['id']}/refund-reject", json={"reason": "b"}, headers=clerk
            )
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "c"}, headers=auth(user)
        )
        approved = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=clerk)
        assert approved.json()["status"] == "refunded"
