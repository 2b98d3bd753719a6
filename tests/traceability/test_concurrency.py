"""Concurrent scans of one code lose no count (MariaDB: real concurrent requests on separate connections)."""

from __future__ import annotations

import asyncio

import pytest

from app.config import get_settings
from app.traceability.models import TraceScan
from tests.traceability import factories as f
from tests.traceability.helpers import count_rows, events_of, flush_scans

pytestmark = pytest.mark.mysql_only


class TestConcurrentScans:
    async def test_concurrent_scans_count_exactly(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_suspicious_scanners", 20)
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        n = 40
        responses = await asyncio.gather(
            *(client.get(f"/api/trace/{code}", headers={"User-Agent": f"phone {i}"}) for i in range(n))
        )
        assert all(r.status_code == 200 for r in responses), [
            r.text for r in responses if r.status_code != 200
        ]
        # Each scan saw its own count: 1..40, none lost, none repeated; the same for scanners.
        assert sorted(r.json()["scan_count"] for r in responses) == list(range(1, n + 1))
        assert sorted(r.json()["scanner_count"] for r in responses) == list(range(1, n + 1))
        assert len({r.json()["first_scanned_at"] for r in responses}) == 1
        await flush_scans()
        row = await f.get_code(code)
        assert row.scan_count == n and row.scanner_count == n
        assert await count_rows(TraceScan) == n
        # Crossing the threshold is announced exactly once; every scan is covered by a scanned event.
        assert len(await events_of("trace_code.flagged")) == 1
        assert sum(e["scans"] for e in await events_of("trace_code.scanned")) == n

    async def test_concurrent_code_issues_never_share_a_code(self, client):
        from app.users.models import Role
        from tests.users.factories import auth, create_user

        staff = auth(await create_user(role=Role.merchant))
        batch = await f.create_batch()
        responses = await asyncio.gather(
            *(
                client.post(f"/api/admin/batches/{batch.id}/codes", json={"count": 200}, headers=staff)
                for _ in range(8)
            )
        )
        assert all(r.status_code == 201 for r in responses)
        codes = [c for r in responses for c in r.json()["codes"]]
        assert len(codes) == len(set(codes)) == 1600
