"""GET /metrics: guarded by METRICS_TOKEN, series by route template (never by raw path), the shop's own
counters (orders, payment notices, jobs, cache, trace scans, the outbox backlog), the fast paths counted like
the routes, and several server processes added up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import get_settings
from app.main import create_app
from app.worker import run_job
from tests.catalog.factories import create_product
from tests.ops.servers import run_cli, spawn_servers
from tests.orders.factories import customer, pay, pending_order, sku_on_sale
from tests.traceability import factories as trace_factories
from tests.users.factories import auth

TOKEN = "metrics-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _shop(monkeypatch: pytest.MonkeyPatch, *, fast_paths: bool = True, token: str | None = TOKEN):
    monkeypatch.setattr(get_settings(), "metrics_token", token)
    app = create_app(fast_paths=fast_paths)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 50000)), base_url="http://testserver"
    )


@pytest.fixture(params=[True, False], ids=["fast-paths", "routes-only"])
async def shop(request, monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
    async with _shop(monkeypatch, fast_paths=request.param) as c:
        yield c


@pytest.fixture
async def metered(monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
    async with _shop(monkeypatch) as c:
        yield c


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def series_of(found: dict, name: str, **labels: str) -> set[tuple]:
    return {key[1] for key in found if key[0] == name and set(labels.items()) <= set(key[1])}


class TestTheGuard:
    async def test_without_a_token_configured_the_endpoint_does_not_exist(self, monkeypatch):
        async with _shop(monkeypatch, token=None) as client:
            response = await client.get("/metrics", headers=BEARER)
            missing = await client.get("/no-such-page", headers=BEARER)
        assert response.status_code == missing.status_code == 404
        assert response.headers["content-type"] == missing.headers["content-type"]

    @pytest.mark.parametrize(
        "header",
        [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN, "Bearer ", f"bearer{TOKEN}"],
    )
    async def test_a_wrong_or_missing_token_gets_the_same_404(self, metered, header):
        headers = {} if header is None else {"Authorization": header}
        response = await metered.get("/metrics", headers=headers)
        missing = await metered.get("/no-such-page", headers=headers)
        assert response.status_code == missing.status_code == 404
        assert response.headers["content-type"] == missing.headers["content-type"]
        assert "daoxiang_" not in response.text

    async def test_the_right_token_gets_the_text_format_with_the_contract_names(self, metered):
        await metered.get("/api/health")
        response = await metered.get("/metrics", headers=BEARER)
        assert response.status_code == 200
        for name in (
            "daoxiang_http_requests_total",
            "daoxiang_http_request_duration_seconds_bucket",
            "daoxiang_orders_created_total",
            "daoxiang_outbox_pending_events",
            "daoxiang_outbox_relay_lag_seconds",
        ):
            assert name in response.text, name


class TestRequestsByRouteTemplate:
    async def test_two_products_share_one_series(self, shop):
        first, second = await create_product(), await create_product()
        before = await scrape(shop)
        for product_id in (first.id, second.id, first.id):
            assert (await shop.get(f"/api/products/{product_id}")).status_code == 200
        after = await scrape(shop)
        route = "/api/products/{product_id}"
        labels = {"method": "GET", "route": route, "status": "200"}
        assert (
            value(after, "daoxiang_http_requests_total", **labels)
            - value(before, "daoxiang_http_requests_total", **labels)
            == 3
        )
        count = "daoxiang_http_request_duration_seconds_count"
        assert (
            value(after, count, method="GET", route=route) - value(before, count, method="GET", route=route)
            == 3
        )
        assert not any(
            str(first.id) in dict(labels)["route"]
            for labels in series_of(after, "daoxiang_http_requests_total")
        )

    async def test_junk_paths_make_no_new_series(self, shop):
        await shop.get("/api/health")
        before = await scrape(shop)
        for junk in ("/nope", "/wp-admin/setup.php", "/api/products/abc/def", "/api/%00", "/x" * 50):
            assert (await shop.get(junk)).status_code == 404
        await shop.request("BREW", "/coffee")
        after = await scrape(shop)
        new = series_of(after, "daoxiang_http_requests_total") - series_of(
            before, "daoxiang_http_requests_total"
        )
        routes = {dict(labels)["route"] for labels in new}
        assert routes <= {"unmatched"}, routes
        assert len(new) <= 3  # unmatched GET 404, unmatched OTHER 404/405, at most

    async def test_the_list_and_a_missing_product_are_their_routes(self, shop):
        before = await scrape(shop)
        assert (await shop.get("/api/products?page=1&size=20")).status_code == 200
        assert (await shop.get("/api/products/999999")).status_code == 404
        after = await scrape(shop)
        for route, status in (("/api/products", "200"), ("/api/products/{product_id}", "404")):
            labels = {"method": "GET", "route": route, "status": status}
            got = value(after, "daoxiang_http_requests_total", **labels)
            assert got - value(before, "daoxiang_http_requests_total", **labels) == 1, route


class TestTheShopsOwnCounters:
    async def test_orders_created_paid_and_cancelled(self, shop):
        before = await scrape(shop)
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        paid = await pending_order(shop, user, address, sku)
        await pay(paid["id"])
        cancelled = await pending_order(shop, user, address, sku)
        response = await shop.post(f"/api/orders/{cancelled['id']}/cancel", headers=auth(user))
        assert response.status_code == 200, response.text
        after = await scrape(shop)
        assert (
            value(after, "daoxiang_orders_created_total", kind="standard")
            - value(before, "daoxiang_orders_created_total", kind="standard")
            == 2
        )
        assert value(after, "daoxiang_orders_paid_total") - value(before, "daoxiang_orders_paid_total") == 1
        assert (
            value(after, "daoxiang_orders_cancelled_total") - value(before, "daoxiang_orders_cancelled_total")
            == 1
        )
        # the checkout is counted under its route, whichever path answered
        labels = {"method": "POST", "route": "/api/orders", "status": "201"}
        assert (
            value(after, "daoxiang_http_requests_total", **labels)
            - value(before, "daoxiang_http_requests_total", **labels)
            == 2
        )

    async def test_the_outbox_backlog_and_its_lag(self, metered, shop_clock):
        from datetime import timedelta

        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        await pending_order(metered, user, address, sku)
        shop_clock.advance(timedelta(minutes=3))
        found = await scrape(metered)
        assert value(found, "daoxiang_outbox_pending_events") >= 1
        assert value(found, "daoxiang_outbox_relay_lag_seconds") >= 180

    async def test_payment_notices_by_outcome(self, metered):
        from tests.payments import factories as pay_factories

        user, _sku, order = await pay_factories.order_to_pay(metered)
        payment = await pay_factories.start_payment(metered, user, order["id"])
        body = pay_factories.sandbox_body(payment, order)
        before = await scrape(metered)
        assert (await pay_factories.sandbox_notify(metered, body)).status_code == 200
        assert (await pay_factories.sandbox_notify(metered, body)).status_code == 200
        assert (await pay_factories.sandbox_notify(metered, body, signature="0" * 64)).status_code >= 400
        after = await scrape(metered)
        name = "daoxiang_payment_notices_total"
        for outcome in ("applied", "duplicate", "rejected"):
            labels = {"channel": "sandbox", "outcome": outcome}
            assert value(after, name, **labels) - value(before, name, **labels) == 1, outcome

    async def test_worker_jobs_runs_durations_and_failures(self, metered, monkeypatch):
        from app import worker

        before = await scrape(metered)
        await run_job("orders.cancel_unpaid")

        async def broken(_session):
            raise RuntimeError("boom")

        monkeypatch.setattr(worker.registered_jobs()["orders.auto_confirm"], "func", broken)
        results = await worker.run_due_jobs(
            force=True, skip=frozenset(worker.registered_jobs()) - {"orders.auto_confirm"}
        )
        assert results == {"orders.auto_confirm": -1}
        after = await scrape(metered)
        runs, fails = "daoxiang_job_runs_total", "daoxiang_job_failures_total"
        assert (
            value(after, runs, job="orders.cancel_unpaid") - value(before, runs, job="orders.cancel_unpaid")
            == 1
        )
        assert (
            value(after, fails, job="orders.auto_confirm") - value(before, fails, job="orders.auto_confirm")
            == 1
        )
        count = "daoxiang_job_duration_seconds_count"
        assert value(after, count, job="orders.cancel_unpaid") > value(
            before, count, job="orders.cancel_unpaid"
        )

    async def test_cache_hits_and_misses(self, shop):
        await create_product()
        before = await scrape(shop)
        for _ in range(3):
            assert (await shop.get("/api/products")).status_code == 200
        after = await scrape(shop)
        name = "daoxiang_cache_requests_total"
        miss = value(after, name, cache="catalog", result="miss") - value(
            before, name, cache="catalog", result="miss"
        )
        hits = value(after, name, cache="catalog", result="hit_l1") - value(
            before, name, cache="catalog", result="hit_l1"
        )
        assert miss >= 1 and hits >= 2

    async def test_trace_scans_by_verdict(self, shop):
        batch = await trace_factories.create_batch()
        [code] = await trace_factories.create_codes(batch)
        before = await scrape(shop)
        for _ in range(2):
            assert (await shop.get(f"/api/trace/{code}")).status_code == 200
        after = await scrape(shop)
        name = "daoxiang_trace_scans_total"
        assert value(after, name, verdict="genuine") - value(before, name, verdict="genuine") == 2
        labels = {"method": "GET", "route": "/api/trace/{code}", "status": "200"}
        assert (
            value(after, "daoxiang_http_requests_total", **labels)
            - value(before, "daoxiang_http_requests_total", **labels)
            == 2
        )


def _scrape_server(url: str) -> dict:
    response = httpx.get(f"{url}/metrics", headers=BEARER, timeout=10)
    assert response.status_code == 200, response.text
    return samples(response.text)


class TestSeveralProcesses:
    def test_two_server_workers_are_added_up(self, tmp_path):
        [server] = spawn_servers(1, tmp_path, "--workers", "2", METRICS_TOKEN=TOKEN)
        try:
            for _ in range(20):  # a new connection each: uvicorn's workers share the listening socket
                assert httpx.get(f"{server.url}/api/categories", timeout=10).status_code == 200
            labels = {"method": "GET", "route": "/api/categories", "status": "200"}
            seen = {
                value(_scrape_server(server.url), "daoxiang_http_requests_total", **labels) for _ in range(6)
            }
        finally:
            server.stop()
        assert seen == {20.0}  # whichever worker answers the scrape, it reports both

    def test_a_worker_sharing_the_directory_shows_its_jobs(self, tmp_path):
        shared = tmp_path / "metrics"
        env = {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
        [server] = spawn_servers(1, tmp_path, **env)
        try:
            done = run_cli("worker", "--once", **env)
            assert done.returncode == 0, done.stdout + done.stderr
            found = _scrape_server(server.url)
        finally:
            server.stop()
        assert value(found, "daoxiang_job_runs_total", job="orders.cancel_unpaid") == 1
        assert value(found, "daoxiang_job_runs_total", job="events.relay") == 1


class TestTheGrafanaDashboard:
    async def test_every_panel_asks_for_metrics_the_shop_exposes(self, metered):
        import json
        import re

        from app.config import PROJECT_ROOT

        dashboard = json.loads((PROJECT_ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
        asked = {
            re.sub(r"_bucket$", "", name)
            for panel in dashboard["panels"]
            for target in panel["targets"]
            for name in re.findall(r"daoxiang_[a-z_]+", target["expr"])
        }
        text = (await metered.get("/metrics", headers=BEARER)).text
        exposed = set(re.findall(r"^# TYPE (daoxiang_[a-z_]+)", text, re.MULTILINE))
        assert len(dashboard["panels"]) >= 10
        assert asked <= exposed, asked - exposed
