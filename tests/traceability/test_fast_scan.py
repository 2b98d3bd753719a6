"""The fast path for GET /api/trace/{code} answers exactly as the route does (status, bytes, content type,
headers that matter), for real codes, unknown and malformed ones, and when the network is throttled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import get_settings
from app.main import create_app
from app.traceability import codes as codebook
from app.traceability.schemas import TraceResult
from tests.traceability import factories as f


@pytest.fixture
async def routes_only() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(fast_paths=False), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _problem(response: httpx.Response) -> dict:
    return {k: v for k, v in response.json().items() if k != "request_id"}  # one per request


def _without_counts(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("scan_count", "scanner_count")}


class TestFastScanAnswersLikeTheRoute:
    async def test_a_real_code(self, client, routes_only):
        batch = await f.create_batch()
        await f.create_event(batch)
        await f.create_certificate(batch_id=batch.id)
        [code] = await f.create_codes(batch)
        fast = await client.get(f"/api/trace/{code}", headers={"User-Agent": "A"})
        route = await routes_only.get(f"/api/trace/{code}", headers={"User-Agent": "B"})
        assert fast.status_code == route.status_code == 200
        assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
        assert (fast.json()["scan_count"], route.json()["scan_count"]) == (1, 2)
        assert (fast.json()["scanner_count"], route.json()["scanner_count"]) == (1, 2)
        assert _without_counts(fast.json()) == _without_counts(route.json())
        # The bytes are TraceResult exactly as pydantic writes it.
        assert TraceResult.model_validate_json(route.content).model_dump_json().encode() == route.content

    @given(
        raw=st.one_of(st.text(max_size=45), st.sampled_from(["", "x" * 41, "event-photos", "certificates"]))
    )
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    async def test_unknown_and_malformed_codes(self, client, routes_only, raw):
        from urllib.parse import quote

        path = f"/api/trace/{quote(raw, safe='')}"
        fast, route = await client.get(path), await routes_only.get(path)
        assert fast.status_code == route.status_code
        assert fast.headers.get("content-type") == route.headers.get("content-type")
        if fast.headers.get("content-type", "").startswith("application/problem+json"):
            assert _problem(fast) == _problem(route)

    async def test_throttled_network(self, client, routes_only, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_max_misses_per_ip", 2)
        for _ in range(2):
            await client.get(f"/api/trace/{codebook.new_code()}")
        fast = await client.get(f"/api/trace/{codebook.new_code()}")
        route = await routes_only.get(f"/api/trace/{codebook.new_code()}")
        assert fast.status_code == route.status_code == 429
        assert (
            _problem(fast) == _problem(route)
            and "retry-after" in fast.headers
            and "retry-after" in route.headers
        )
