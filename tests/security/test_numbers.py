"""Numbers that are not numbers (issue 13, item 6): one parser for every id, page number and numeric form
field. `str.isdigit()` characters `int()` refuses (`²`), digits of other scripts (`٣`, `３`), strings past
Python's 4,300-digit limit and ids past 64 bits were 500s on about 34 URLs; every one is now an ordinary
answer: 404 for an id that cannot exist, 422 (or the page's own message) for a bad value, page 1 for a bad
`?page=`. Every route with a numeric path or query parameter is tried, as staff, on pages and the API.
"""

from __future__ import annotations

from urllib.parse import quote

import anyio
import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.cart.models import CartItem
from app.db import session_scope
from app.kit.params import MAX_ID, MAX_PAGE, parse_id, parse_int, parse_page
from app.main import app
from app.users.models import Role
from tests.orders.factories import customer, sku_on_sale
from tests.security.routes import api_routes, fill, first_method, int_params, is_page
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import auth, create_user

# Text that str.isdigit() or int() accepts but that is not a plain ASCII number, and numbers out of range.
NOT_NUMBERS = [
    "²",
    "1²",
    "٣",
    "١٢٣",
    "３",
    "𝟏",
    "߁",
    "1" * 5000,
    "9" * 4301,
    str(MAX_ID + 1),
    str(2**64),
    "-1",
    "0",
    "+1",
    " 1",
    "1 ",
    "1_000",
    "1e3",
    "0x10",
    "1.0",
    "",
]
IMPOSSIBLE_IDS = [v for v in NOT_NUMBERS if v]
# Form fields forgive the spaces a person may type around a number; nothing else.
BAD_FORM_NUMBERS = [v for v in IMPOSSIBLE_IDS if v == v.strip()]

ROUTES_WITH_IDS = [
    route
    for route in api_routes()
    if any(int_params(route)) and first_method(route) in {"GET", "POST", "PUT", "PATCH", "DELETE"}
]


class TestParser:
    @pytest.mark.parametrize("text", NOT_NUMBERS)
    def test_anything_but_ascii_digits_in_range_is_no_id(self, text):
        assert parse_id(text) is None

    @pytest.mark.parametrize("text", NOT_NUMBERS)
    def test_a_bad_page_number_is_page_one(self, text):
        assert parse_page(text) == 1

    @pytest.mark.parametrize(("text", "number"), [("1", 1), ("007", 7), (str(MAX_ID), MAX_ID)])
    def test_ascii_digits_in_range_are_numbers(self, text, number):
        assert parse_id(text) == number
        assert parse_id(text.encode()) == number

    def test_pages_past_the_last_show_the_last(self):
        assert parse_page(str(MAX_PAGE * 10)) == MAX_PAGE

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(), st.binary(), st.integers().map(str)))
    def test_never_raises_and_never_leaves_its_range(self, text):
        value = parse_int(text, lo=3, hi=10**12)
        assert value is None or 3 <= value <= 10**12
        if value is not None:
            assert str(value) == (text.decode() if isinstance(text, bytes) else text).lstrip("0")

    @settings(max_examples=200, deadline=None)
    @given(st.integers(min_value=1, max_value=MAX_ID))
    def test_every_possible_id_round_trips(self, number):
        assert parse_id(str(number)) == number


@pytest.fixture
async def staff_client() -> httpx.AsyncClient:
    """Staff logged in twice over: a page session (with its CSRF token) and an API bearer token."""
    staff = await create_user(role=Role.admin)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await log_in(c, staff)
        c.headers.update(auth(staff))
        c.headers["X-CSRF-Token"] = csrf_from((await c.get("/")).text)
        yield c


def _url(route, target: str, value: str) -> str:
    path_params, query_params = int_params(route)
    if target in path_params:
        return fill(route.path, {target: quote(value, safe="")})
    return fill(route.path) + "?" + target + "=" + quote(value, safe="")


def _cases():
    for route in ROUTES_WITH_IDS:
        path_params, query_params = int_params(route)
        for target in path_params + query_params:
            yield pytest.param(route, target, id=f"{first_method(route)} {route.path} {target}")


class TestEveryRouteWithANumber:
    @pytest.mark.parametrize(("route", "target"), list(_cases()))
    async def test_not_a_number_is_never_a_server_error(self, staff_client, route, target):
        path_params, _ = int_params(route)
        method = first_method(route)
        for value in NOT_NUMBERS:
            if target in path_params and not value:
                continue  # an empty path segment is another address
            body = {} if method in {"POST", "PUT", "PATCH"} else None
            kwargs = {"json": body} if route.path.startswith("/api/") and body is not None else {}
            response = await staff_client.request(method, _url(route, target, value), **kwargs)
            assert response.status_code < 500, (value[:20], response.status_code, response.text[:300])
            if target in path_params:
                if is_page(route):
                    # A page for an id that cannot exist is the "not found" page (a form post: its 422 page).
                    assert response.status_code in (404, 422), (value[:20], response.status_code)
                    assert response.headers["content-type"].startswith("text/html")
                else:
                    assert response.status_code in (404, 422), (value[:20], response.status_code)
                    assert response.headers["content-type"] == "application/problem+json"

    async def test_every_route_with_a_numeric_path_id_is_covered(self):
        # ~100 routes: pages and API, customers' and staff's. A new one is tried by the test above.
        assert len(ROUTES_WITH_IDS) > 80


PAGED = [
    "/products",
    "/orders",
    "/notifications",
    "/admin/orders",
    "/admin/products",
    "/admin/batches",
    "/admin/producers",
]


class TestPageNumbers:
    @pytest.mark.parametrize("path", PAGED)
    @pytest.mark.parametrize("value", NOT_NUMBERS, ids=lambda v: v[:12] or "empty")
    async def test_a_bad_page_number_shows_the_first_page(self, staff_client, path, value):
        response = await staff_client.get(path + "?page=" + quote(value, safe=""))
        assert response.status_code == 200, response.text[:300]
        assert response.headers["content-type"].startswith("text/html")

    @pytest.mark.parametrize(
        "path", ["/api/products", "/api/orders", "/api/admin/orders", "/api/admin/products"]
    )
    @pytest.mark.parametrize("value", IMPOSSIBLE_IDS, ids=lambda v: v[:12])
    async def test_a_bad_page_number_in_the_api_is_a_422(self, staff_client, path, value):
        response = await staff_client.get(path, params={"page": value})
        assert response.status_code == 422, response.text[:300]
        assert response.json()["code"] == "validation_error"


class TestFormFields:
    @pytest.mark.parametrize("value", BAD_FORM_NUMBERS, ids=lambda v: v[:12])
    async def test_add_to_cart_with_a_bad_sku_or_quantity_adds_nothing(self, value):
        user, _address = await customer()
        sku = await sku_on_sale()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.31", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await log_in(c, user)
            token = csrf_from((await c.get("/")).text)
            for data in ({"sku_id": value, "quantity": "1"}, {"sku_id": str(sku.id), "quantity": value}):
                response = await c.post("/cart/items", data={**data, "csrf_token": token})
                assert response.status_code == 422, response.text[:300]
                assert "请选择规格并填写 1 以上的数量" in response.text
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(CartItem))).scalar_one() == 0

    @pytest.mark.parametrize("value", BAD_FORM_NUMBERS, ids=lambda v: v[:12])
    async def test_checkout_with_a_bad_address_id_asks_for_an_address(self, value):
        user, _address = await customer()
        sku = await sku_on_sale()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.32", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await log_in(c, user)
            token = csrf_from((await c.get("/")).text)
            await c.post("/cart/items", data={"sku_id": str(sku.id), "quantity": "1", "csrf_token": token})
            response = await c.post(
                "/checkout", data={"address_id": value, "idempotency_key": "k" * 16, "csrf_token": token}
            )
            assert response.status_code == 422, response.text[:300]
            assert "请选择收货地址" in response.text
            assert "/orders/" not in response.headers.get("location", "")

    @pytest.mark.parametrize("value", IMPOSSIBLE_IDS, ids=lambda v: v[:12])
    async def test_back_office_numeric_fields_are_refused_politely(self, staff_client, value):
        sku = await sku_on_sale()
        stock = await staff_client.post(f"/admin/skus/{sku.id}/stock", data={"stock": value})
        assert stock.status_code < 500, stock.text[:300]
        product = await staff_client.post(
            f"/admin/products/{sku.product_id}", data={"name": "x", "category_id": value}
        )
        assert product.status_code < 500, product.text[:300]


class TestFuzzedNumbers:
    """Whatever text stands where a number belongs, pages and the API answer without a server error."""

    async def test_random_text_in_ids_and_pages(self, staff_client):
        urls = [
            "/orders/{}",
            "/admin/orders/{}",
            "/products/{}",
            "/api/orders/{}",
            "/api/products/{}",
            "/products?page={}",
            "/admin/orders?page={}",
            "/admin/batches?page={}",
            "/products?category_id={}",
        ]

        @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(
            text=st.text(min_size=1, max_size=40).filter(lambda t: "/" not in t and t not in (".", "..")),
            template=st.sampled_from(urls),
        )
        def check(text: str, template: str) -> None:
            response = anyio.from_thread.run(staff_client.get, template.format(quote(text, safe="")))
            assert response.status_code < 500, (text, template, response.status_code)

        await anyio.to_thread.run_sync(check)
