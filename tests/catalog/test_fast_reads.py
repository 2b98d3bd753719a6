"""The fast path for the three hottest catalogue reads answers exactly as the routes do (same status, same
bytes, same content type), and leaves everything it is unsure about to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.catalog.fast_reads import CatalogFastPath
from app.main import create_app
from tests.catalog.factories import create_category, create_product

SUSPICIOUS_TEXT = st.sampled_from(
    ["", "0", "-1", "1.5", "abc", "五常", "%", "_", "'", "9" * 25, "true", " 2"]
)
LIST_PARAMS = st.dictionaries(
    st.sampled_from(
        ["page", "size", "q", "category_id", "min_price_fen", "max_price_fen", "origin", "sort", "other"]
    ),
    st.one_of(
        SUSPICIOUS_TEXT,
        st.integers(-5, 200).map(str),
        st.sampled_from(["newest", "price_asc", "price_desc", "sales", "relevance", "cheap"]),
        st.text(max_size=30),
    ),
    max_size=5,
)


@pytest.fixture
async def routes_only() -> AsyncIterator[httpx.AsyncClient]:
    """The same application without the fast path: what the routes alone answer."""
    transport = httpx.ASGITransport(app=create_app(fast_paths=False), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def shop() -> dict:
    rice = await create_category(name="大米")
    grain = await create_category(name="杂粮")
    for n in range(7):
        await create_product(
            name=f"五常大米 稻花香2号 {n}",
            category=rice,
            skus=[
                {"name": "2.5kg", "price_fen": 3990 + n, "stock": n, "weight_g": 2500},
                {"name": "5kg", "price_fen": 6990 + n, "stock": 10 + n, "weight_g": 5000},
            ],
        )
    await create_product(name="东北小米", category=grain, origin="黑龙江肇源")
    await create_product(name="草稿", status="draft")
    return {"rice": rice.id, "grain": grain.id}


async def same_answer(fast: httpx.AsyncClient, routes: httpx.AsyncClient, url: str) -> httpx.Response:
    a, b = await fast.get(url), await routes.get(url)
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"]), url
    if a.status_code == 200:
        assert a.content == b.content, url
    else:  # problem details carry the request id; everything else must match
        assert {k: v for k, v in a.json().items() if k not in ("instance", "request_id")} == {
            k: v for k, v in b.json().items() if k not in ("instance", "request_id")
        }, url
    assert a.headers["x-request-id"], url
    return a


class TestSameAnswersAsTheRoutes:
    async def test_list_detail_and_categories(self, client, routes_only, shop):
        listing = await same_answer(client, routes_only, "/api/products?size=3&sort=price_asc")
        assert listing.json()["total"] == 8
        for item in listing.json()["items"]:
            await same_answer(client, routes_only, f"/api/products/{item['id']}")
        await same_answer(client, routes_only, "/api/categories")
        await same_answer(client, routes_only, f"/api/products?category_id={shop['rice']}&q=wc")
        await same_answer(client, routes_only, "/api/products?origin=%E8%82%87%E6%BA%90")  # 肇源

    @pytest.mark.parametrize(
        "url",
        [
            "/api/products/999999",  # not found: the route makes the 404
            "/api/products/0",
            "/api/products/00",
            "/api/products/9223372036854775808",  # above BIGINT
            "/api/products/12abc",
            "/api/products?page=0",
            "/api/products?size=101",
            "/api/products?page=",
            "/api/products?page=1&page=2",
            "/api/products?sort=cheapest",
            "/api/products?min_price_fen=1.5",
            "/api/products?unknown=1",
            "/api/products?q=" + "稻" * 2001,
        ],
    )
    async def test_edge_cases(self, client, routes_only, shop, url):
        await same_answer(client, routes_only, url)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(params=LIST_PARAMS)
    async def test_any_list_query(self, client, routes_only, shop, params):
        await same_answer(client, routes_only, "/api/products?" + urlencode(params))


async def call(app, path: str, query: bytes = b"", method: str = "GET") -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


class TestWhatItAnswersItself:
    """Behind the fast path sits an application that answers 599 to everything: a 200 came from the path."""

    @staticmethod
    async def app_599(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b"routes"})

    async def test_valid_hot_reads_never_reach_the_routes(self, client, shop):
        fast = CatalogFastPath(self.app_599)
        product_id = (await client.get("/api/products")).json()["items"][0]["id"]
        for path, query in [
            ("/api/products", b""),
            ("/api/products", b"page=1&size=20"),
            ("/api/products", b"q=%E4%BA%94%E5%B8%B8&sort=sales"),
            (f"/api/products/{product_id}", b""),
            ("/api/categories", b""),
        ]:
            status, body = await call(fast, path, query)
            assert status == 200, (path, query)
            url = path + ("?" + query.decode() if query else "")
            assert body == (await client.get(url)).content

    @pytest.mark.parametrize(
        ("method", "path", "query"),
        [
            ("GET", "/api/products", b"page=0"),
            ("GET", "/api/products", b"size=20&size=30"),
            ("GET", "/api/products", b"secret=1"),
            ("GET", "/api/products/999999", b""),
            ("HEAD", "/api/products", b""),
            ("POST", "/api/products", b""),
            ("GET", "/api/products/", b""),
            ("GET", "/api/admin/products", b""),
            ("GET", "/api/cart", b""),
        ],
    )
    async def test_everything_else_goes_to_the_routes(self, shop, method, path, query):
        assert await call(CatalogFastPath(self.app_599), path, query, method) == (599, b"routes")
