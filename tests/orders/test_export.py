"""The orders export (issue 18): every order asked for, read chunk by chunk by id, as CSV and as .xlsx."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.db import session_scope
from app.orders import export as orders_export
from app.orders.models import Order
from app.seed_scale import seed_scale
from app.users.models import Role
from tests.users.factories import DEFAULT_PASSWORD, create_user


async def staff_headers(client) -> dict[str, str]:
    staff = await create_user(role=Role.merchant, nickname="店员")
    response = await client.post("/api/auth/login", json={"phone": staff.phone, "password": DEFAULT_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def all_order_nos() -> list[str]:
    async with session_scope() as session:
        return list((await session.execute(select(Order.order_no).order_by(Order.id))).scalars().all())


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[dict[str, str]]:
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return [{k: ("" if v is None else str(v)) for k, v in zip(header, row, strict=True)} for row in rows]


class TestExportEveryRow:
    @pytest.mark.parametrize("chunk", [1, 7, 1000])
    async def test_csv_has_every_order_once_oldest_first(self, client, monkeypatch, chunk):
        await seed_scale(products=10, orders=45, codes=0, seed=5)
        monkeypatch.setattr(orders_export, "EXPORT_CHUNK", chunk)
        response = await client.get("/api/admin/orders/export.csv", headers=await staff_headers(client))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith("\ufeff".encode())
        assert [row["order_no"] for row in csv_rows(response)] == await all_order_nos()

    async def test_xlsx_holds_the_same_rows_as_csv(self, client, monkeypatch):
        await seed_scale(products=10, orders=30, codes=0, seed=6)
        monkeypatch.setattr(orders_export, "EXPORT_CHUNK", 8)
        headers = await staff_headers(client)
        as_csv = await client.get("/api/admin/orders/export.csv", headers=headers)
        as_xlsx = await client.get("/api/admin/orders/export.xlsx", headers=headers)
        assert as_xlsx.status_code == 200
        assert as_xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert 'filename="orders-all-all.xlsx"' in as_xlsx.headers["content-disposition"]
        assert xlsx_rows(as_xlsx) == csv_rows(as_csv)

    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    async def test_a_date_range_with_no_orders_is_a_header_only(self, client, fmt):
        await seed_scale(products=5, orders=10, codes=0, seed=2)
        response = await client.get(
            f"/api/admin/orders/export.{fmt}",
            params={"date_to": "2001-01-01"},
            headers=await staff_headers(client),
        )
        rows = csv_rows(response) if fmt == "csv" else xlsx_rows(response)
        assert response.status_code == 200 and rows == []

    @pytest.mark.parametrize("who", ["anonymous", "customer"])
    async def test_only_staff_export(self, client, who):
        headers = {}
        if who == "customer":
            user = await create_user()
            login = await client.post(
                "/api/auth/login", json={"phone": user.phone, "password": DEFAULT_PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        response = await client.get("/api/admin/orders/export.xlsx", headers=headers)
        assert response.status_code == (401 if who == "anonymous" else 403)
