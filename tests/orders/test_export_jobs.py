"""Background order exports (issue 18): start -> export id -> progress -> download. The worker writes every
order asked for, chunk by chunk, recording its progress; the download is the same rows as the direct
export, as CSV and as .xlsx."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.db import session_scope, utcnow
from app.orders import export as orders_export
from app.orders import export_jobs as exports
from app.orders.models import OrderExport
from app.seed_scale import seed_scale
from app.worker import run_job
from tests.orders.test_export import all_order_nos, csv_rows, staff_headers, xlsx_rows
from tests.problems import assert_problem
from tests.users.factories import DEFAULT_PASSWORD, create_user


class TestBackgroundExport:
    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    async def test_start_progress_download_every_row(self, client, monkeypatch, fmt):
        await seed_scale(products=10, orders=45, codes=0, seed=5)
        monkeypatch.setattr(orders_export, "EXPORT_CHUNK", 7)
        headers = await staff_headers(client)
        started = await client.post("/api/admin/order-exports", json={"format": fmt}, headers=headers)
        assert started.status_code == 202, started.text
        body = started.json()
        assert body["status"] == "pending" and body["download_url"] is None and body["progress_percent"] == 0
        early = await client.get(f"/api/admin/order-exports/{body['id']}/file", headers=headers)
        assert_problem(early, 409, "export_not_ready")

        progress: list[int] = []
        record = exports._set

        async def watching(export_id, **values):
            if "rows_done" in values:
                progress.append(values["rows_done"])
            await record(export_id, **values)

        monkeypatch.setattr(exports, "_set", watching)
        assert await run_job("orders.run_exports") == 1
        assert progress[:7] == [7, 14, 21, 28, 35, 42, 45]  # after every chunk

        done = (await client.get(f"/api/admin/order-exports/{body['id']}", headers=headers)).json()
        assert done["status"] == "done" and done["rows_total"] == done["rows_done"] == 45
        assert done["progress_percent"] == 100
        response = await client.get(done["download_url"], headers=headers)
        assert response.status_code == 200
        assert f'filename="orders-all-all.{fmt}"' in response.headers["content-disposition"]
        rows = csv_rows(response) if fmt == "csv" else xlsx_rows(response)
        assert [row["order_no"] for row in rows] == await all_order_nos()
        direct = await client.get(f"/api/admin/orders/export.{fmt}", headers=headers)
        assert rows == (csv_rows(direct) if fmt == "csv" else xlsx_rows(direct))

    async def test_a_date_range(self, client):
        await seed_scale(products=5, orders=30, codes=0, seed=2)
        headers = await staff_headers(client)
        started = await client.post(
            "/api/admin/order-exports", json={"format": "csv", "date_to": "2001-01-01"}, headers=headers
        )
        await run_job("orders.run_exports")
        done = (await client.get(f"/api/admin/order-exports/{started.json()['id']}", headers=headers)).json()
        assert done["status"] == "done" and done["rows_total"] == 0
        response = await client.get(done["download_url"], headers=headers)
        assert 'filename="orders-all-2001-01-01.csv"' in response.headers["content-disposition"]
        assert csv_rows(response) == []

    async def test_an_export_whose_worker_died_is_written_again(self, client):
        await seed_scale(products=5, orders=12, codes=0, seed=7)
        headers = await staff_headers(client)
        started = (
            await client.post("/api/admin/order-exports", json={"format": "csv"}, headers=headers)
        ).json()
        async with session_scope() as session:  # claimed by a worker that then died
            await session.execute(
                update(OrderExport)
                .where(OrderExport.id == started["id"])
                .values(status="running", updated_at=utcnow())
            )
        assert await run_job("orders.run_exports") == 0  # still fresh: its worker may be alive
        async with session_scope() as session:
            await session.execute(
                update(OrderExport)
                .where(OrderExport.id == started["id"])
                .values(updated_at=utcnow() - exports.EXPORT_STALE - timedelta(seconds=1))
            )
        assert await run_job("orders.run_exports") == 1
        done = (await client.get(f"/api/admin/order-exports/{started['id']}", headers=headers)).json()
        assert done["status"] == "done" and done["rows_done"] == 12


class TestBadRequests:
    async def test_unknown_export(self, client):
        response = await client.get("/api/admin/order-exports/999999", headers=await staff_headers(client))
        assert_problem(response, 404, "export_not_found")

    @pytest.mark.parametrize(
        "body",
        [{}, {"format": "pdf"}, {"format": "csv", "date_from": "yesterday"}, {"format": "csv", "x": 1}],
    )
    async def test_bad_bodies_change_nothing(self, client, body):
        response = await client.post(
            "/api/admin/order-exports", json=body, headers=await staff_headers(client)
        )
        assert_problem(response, 422, "validation_error")
        assert await run_job("orders.run_exports") == 0

    @pytest.mark.parametrize("who", ["anonymous", "customer"])
    async def test_only_staff(self, client, who):
        headers = {}
        if who == "customer":
            user = await create_user()
            login = await client.post(
                "/api/auth/login", json={"phone": user.phone, "password": DEFAULT_PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        response = await client.post("/api/admin/order-exports", json={"format": "csv"}, headers=headers)
        assert response.status_code == (401 if who == "anonymous" else 403)
