"""A database that cannot be reached is a 503 the client may retry, not a bug: problem+json
`database_unavailable` with a Retry-After (a Chinese "稍后再试" page on the storefront), logged once in one
line with the request id. A real bug is a 500, logged once with its traceback, and neither re-raises into the
server (which would log it again and drop the client's keep-alive connection).

The outage here is a database URL whose port nobody listens on (connection refused), in this process; the
drills in tests/faults/ stop a real MariaDB."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.config import get_settings
from app.db import dispose_engine
from app.kit import leandb
from app.kit.logging import JsonFormatter
from app.payments.providers import sandbox
from tests.ops.servers import free_port
from tests.orders.factories import customer, sku_on_sale
from tests.storefront.pages import csrf_token, is_html
from tests.users.factories import DEFAULT_PASSWORD, auth, create_user

REQUEST_ID = "outage-test-0001"


@pytest.fixture
async def database_down(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """From here on every new connection is refused, as when MariaDB is stopped."""
    settings = get_settings()
    await dispose_engine()
    leandb.close()
    monkeypatch.setattr(
        settings, "database_url", f"mysql+asyncmy://root@127.0.0.1:{free_port()}/daoxiang?charset=utf8mb4"
    )
    yield
    await dispose_engine()
    leandb.close()


def _assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["status"] == 503
    assert "Traceback" not in response.text


class _JsonLines(logging.Handler):
    """The log lines as the server writes them (app.kit.logging), warnings and errors only."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict]]:
    # On our loggers (create_app() resets the root logger's handlers).
    handler = _JsonLines()
    loggers = [logging.getLogger("daoxiang"), logging.getLogger("app")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


class TestApiDuringADatabaseOutage:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/api/products", None),
            ("GET", "/api/products?sort=price_asc&page=2", None),
            ("GET", "/api/products/1", None),
            ("GET", "/api/categories", None),
            ("GET", "/api/orders", None),
            ("GET", "/api/orders/1", None),
            ("GET", "/api/cart", None),
            ("GET", "/api/users/me", None),
            ("POST", "/api/orders", {"address_id": 1, "items": [{"sku_id": 1, "quantity": 1}]}),
            ("POST", "/api/orders/1/cancel", None),
            ("POST", "/api/auth/login", {"phone": "13100000001", "password": DEFAULT_PASSWORD}),
        ],
    )
    async def test_answers_503_database_unavailable_with_retry_after(
        self, client, database_down, log_lines, method, path, body
    ):
        token_headers = {} if path.startswith("/api/auth") else auth_header()
        response = await client.request(
            method, path, json=body, headers={**token_headers, "X-Request-ID": REQUEST_ID}
        )
        _assert_database_unavailable(response)
        assert response.json()["request_id"] == REQUEST_ID
        # Logged once, in one line, with the request id; no traceback for an expected fault.
        assert len(log_lines) == 1, log_lines
        line = log_lines[0]
        assert line["message"] == "database_unavailable"
        assert line["request_id"] == REQUEST_ID
        assert line["path"] == path.split("?")[0]
        assert "exception" not in line
        assert "Can't connect" in line["error"]

    @pytest.mark.parametrize("idempotency_key", [None, "retry-me-1", "k" * 255])
    async def test_checkout_fast_path_and_route_answer_alike(self, database_down, idempotency_key):
        from app.main import create_app

        headers = {**auth_header(), **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
        body = {"address_id": 1, "items": [{"sku_id": 1, "quantity": 2}], "note": ""}
        answers = []
        for fast_paths in (True, False):
            transport = httpx.ASGITransport(app=create_app(fast_paths=fast_paths))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                answers.append(await c.post("/api/orders", json=body, headers=headers))
        for response in answers:
            _assert_database_unavailable(response)
        assert answers[0].json().keys() == answers[1].json().keys()

    async def test_a_signed_payment_notice_is_503_so_the_gateway_retries(self, client, database_down):
        body = json.dumps(
            {
                "payment_id": 1,
                "order_no": "DX1",
                "amount_fen": 100,
                "status": "success",
                "paid_at": "2026-11-25T13:00:00+00:00",
            }
        ).encode()
        response = await client.post(
            "/api/payments/sandbox/notify",
            content=body,
            headers={"Content-Type": "application/json", "X-Sandbox-Signature": sandbox.sign(body)},
        )
        _assert_database_unavailable(response)

    async def test_health_stays_its_own_degraded_answer(self, client, database_down):
        response = await client.get("/api/health")
        assert response.status_code == 503
        assert response.json()["status"] == "degraded"
        assert response.json()["database"] == "down"


class TestPagesDuringADatabaseOutage:
    @pytest.mark.parametrize("path", ["/", "/products", "/products/1", "/orders", "/cart", "/checkout"])
    async def test_a_page_says_try_again_later_in_chinese(self, client, database_down, path):
        client.cookies.set("dx_session", "some-session")
        response = await client.get(path)
        assert response.status_code == 503
        assert is_html(response)
        assert "稍后再试" in response.text
        assert "服务器开小差了" not in response.text
        assert int(response.headers["retry-after"]) >= 1

    async def test_logging_in_through_the_page_says_try_again_later(self, client, monkeypatch):
        token = await csrf_token(client, "/login")
        settings = get_settings()
        await dispose_engine()
        leandb.close()
        monkeypatch.setattr(settings, "database_url", f"mysql+asyncmy://root@127.0.0.1:{free_port()}/x")
        try:
            response = await client.post(
                "/login",
                data={"phone": "13100000001", "password": DEFAULT_PASSWORD, "csrf_token": token, "next": "/"},
            )
        finally:
            await dispose_engine()
            leandb.close()
        assert response.status_code == 503
        assert "稍后再试" in response.text


class TestWhenTheDatabaseIsBack:
    async def test_the_same_checkout_succeeds_once_it_returns(self, client, monkeypatch):
        sku = await sku_on_sale(stock=5)
        user, address = await customer()
        body = {"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]}
        headers = {**auth(user), "Idempotency-Key": "outage-then-back"}
        settings = get_settings()
        good_url = settings.database_url
        await dispose_engine()
        leandb.close()
        monkeypatch.setattr(settings, "database_url", f"mysql+asyncmy://root@127.0.0.1:{free_port()}/x")
        try:
            during = await client.post("/api/orders", json=body, headers=headers)
        finally:
            await dispose_engine()
            leandb.close()
            monkeypatch.setattr(settings, "database_url", good_url)
        _assert_database_unavailable(during)
        after = await client.post("/api/orders", json=body, headers=headers)
        assert after.status_code == 201, after.text
        again = await client.post("/api/orders", json=body, headers=headers)
        assert again.json()["id"] == after.json()["id"]

    @pytest.mark.parametrize(
        ("attempts", "callers"), [(6, 1), (31, 4)], ids=["owner-six-times", "thirty-from-one-nat"]
    )
    async def test_logins_that_met_the_outage_lock_nobody_out(self, client, monkeypatch, attempts, callers):
        # Only a wrong password counts: failures the server caused must not lock the owner out afterwards
        # (five tries), nor everyone behind one address (thirty).
        monkeypatch.setattr(get_settings(), "login_max_phones_per_network", 3)
        owner = await create_user()
        neighbours = [await create_user() for _ in range(3)]
        settings = get_settings()
        good_url = settings.database_url
        await dispose_engine()
        leandb.close()
        monkeypatch.setattr(settings, "database_url", f"mysql+asyncmy://root@127.0.0.1:{free_port()}/x")
        try:
            for i in range(attempts):
                who = (owner, *neighbours)[i % callers]
                during = await client.post(
                    "/api/auth/login", json={"phone": who.phone, "password": DEFAULT_PASSWORD}
                )
                _assert_database_unavailable(during)
        finally:
            await dispose_engine()
            leandb.close()
            monkeypatch.setattr(settings, "database_url", good_url)
        for user in (owner, *neighbours):
            after = await client.post(
                "/api/auth/login", json={"phone": user.phone, "password": DEFAULT_PASSWORD}
            )
            assert after.status_code == 200, after.text


class TestBugs:
    """An unexpected error: 500 problem, logged once with its traceback, and the app returns normally
    (httpx's ASGI transport re-raises whatever the app raises, as uvicorn would log it and close the
    connection)."""

    @pytest.mark.parametrize(
        "error", [RuntimeError("boom"), KeyError("x"), ZeroDivisionError(), ValueError("v")]
    )
    @pytest.mark.parametrize("path", ["/api/boom", "/boom"])
    async def test_answered_once_logged_once_not_reraised(self, log_lines, error, path):
        from app.main import create_app

        app = create_app()

        @app.get(path)
        async def boom() -> None:
            raise error

        transport = httpx.ASGITransport(app=app)  # raise_app_exceptions=True
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get(path, headers={"X-Request-ID": REQUEST_ID})
        assert response.status_code == 500
        if path.startswith("/api/"):
            assert response.json()["code"] == "internal_error"
            assert response.json()["request_id"] == REQUEST_ID
        else:
            assert is_html(response)
            assert "服务器开小差了" in response.text
        assert len(log_lines) == 1, log_lines
        assert log_lines[0]["message"] == "unhandled error"
        assert log_lines[0]["request_id"] == REQUEST_ID
        assert type(error).__name__ in log_lines[0]["exception"]
        assert "Traceback" not in response.text


def auth_header() -> dict[str, str]:
    """A well-formed token for user 1 (made without the database, which is down)."""
    from app.users import security

    return {"Authorization": f"Bearer {security.create_access_token(1, 'customer')[0]}"}


@pytest.mark.mysql_only
class TestConnectionsTheServerClosed:
    """A database restart (or KILL, or wait_timeout) leaves every pooled connection dead. The requests
    after it must not fail on them: both pools (the engine's and the lean checkout's) replace them."""

    async def _kill_our_connections(self) -> int:
        from asyncmy import connect
        from sqlalchemy.engine import make_url

        url = make_url(get_settings().database_url)
        admin = await connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            db=url.database,
        )
        try:
            async with admin.cursor() as cur:
                await cur.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
                ids = [row[0] for row in await cur.fetchall()]
                for thread_id in ids:
                    await cur.execute(f"KILL {int(thread_id)}")
        finally:
            admin.close()
        return len(ids)

    async def _until_the_pools_saw_it(self) -> None:
        import asyncio

        pools = [leandb.get_pool(), leandb.get_pool(transactions=True)]
        for _ in range(500):  # the event loop reads each connection's end of stream
            if all(leandb.server_closed(conn) for pool in pools for conn, _since in pool._idle):
                return
            await asyncio.sleep(0.01)

    async def test_every_request_after_the_server_killed_the_idle_connections_succeeds(self, client):
        import asyncio

        sku = await sku_on_sale(stock=100)
        buyers = [await customer() for _ in range(6)]

        async def checkout(user, address) -> httpx.Response:
            body = {"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]}
            return await client.post("/api/orders", json=body, headers=auth(user))

        async def round_of_requests() -> list[int]:
            answers = await asyncio.gather(
                *(checkout(user, address) for user, address in buyers),
                *(client.get("/api/orders", headers=auth(user)) for user, _ in buyers),
                *(client.get(f"/api/products/{sku.product_id}") for _ in range(4)),
                client.get("/api/products"),
            )
            return [r.status_code for r in answers]

        warm = await round_of_requests()  # both pools now hold several idle connections
        assert set(warm) <= {200, 201}, warm
        assert await self._kill_our_connections() >= 4
        await self._until_the_pools_saw_it()
        after = await round_of_requests()
        assert after.count(201) == len(buyers), after
        assert set(after) == {200, 201}, after
