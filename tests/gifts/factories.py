"""Plain factory functions with keyword overrides for custom requests (企业定制礼盒)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import select

from app.catalog.models import Sku
from app.db import session_scope, utcnow
from app.gifts.models import CustomRecipient, CustomRequest
from app.users.models import User
from tests.orders.factories import staff
from tests.users.factories import auth

PROVINCES = ("黑龙江省", "北京市", "上海市", "广东省", "浙江省")


def recipient(i: int = 1, **overrides: Any) -> dict[str, Any]:
    return {
        "recipient": f"收件人{i}",
        "phone": f"139{i:08d}",
        "province": PROVINCES[i % len(PROVINCES)],
        "city": "某市",
        "district": "某区",
        "detail": f"幸福路 {i} 号",
        "quantity": 1,
        **overrides,
    }


def recipients(n: int, per: int = 1) -> list[dict[str, Any]]:
    return [recipient(i, quantity=per) for i in range(1, n + 1)]


def body(sku: Sku, **overrides: Any) -> dict[str, Any]:
    quantity = overrides.pop("quantity", 20)
    return {
        "company": "五常稻花香科技有限公司",
        "contact_name": "王经理",
        "contact_phone": "13800138000",
        "sku_id": sku.id,
        "quantity": quantity,
        "packaging_text": "恭贺新春 · 五常稻花香",
        "deliver_by": (utcnow() + timedelta(days=30)).date().isoformat(),
        "recipients": recipients(quantity) if "recipients" not in overrides else overrides.pop("recipients"),
        **overrides,
    }


def csv_bytes(
    rows: list[dict[str, Any]], *, header: tuple[str, ...] | None = None, encoding: str = "utf-8"
) -> bytes:
    cols = ("recipient", "phone", "province", "city", "district", "detail", "quantity")
    head = header or cols
    lines = [",".join(head)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def xlsx_bytes(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("收件人")
    sheet.append(["收件人", "手机号", "省份", "城市", "区县", "详细地址", "数量"])
    for r in rows:
        sheet.append(
            [r["recipient"], r["phone"], r["province"], r["city"], r["district"], r["detail"], r["quantity"]]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def create_request(client: httpx.AsyncClient, user: User, sku: Sku, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/custom-requests", json=body(sku, **overrides), headers=auth(user))
    assert response.status_code == 201, response.text
    return response.json()


async def quote(
    client: httpx.AsyncClient, request_id: int, *, unit: int = 10000, setup: int = 50000, days: int = 7
) -> httpx.Response:
    valid_until = (utcnow() + timedelta(days=days)).isoformat()
    return await client.post(
        f"/api/admin/custom-requests/{request_id}/quote",
        json={"unit_price_fen": unit, "setup_fee_fen": setup, "valid_until": valid_until},
        headers=auth(await staff()),
    )


async def upload_proof(
    client: httpx.AsyncClient, request_id: int, data: bytes | None = None
) -> httpx.Response:
    return await client.post(
        f"/api/admin/custom-requests/{request_id}/proof",
        files={"file": ("proof.png", data if data is not None else png_bytes(), "image/png")},
        headers=auth(await staff()),
    )


async def quoted_request(client: httpx.AsyncClient, user: User, sku: Sku, **overrides: Any) -> dict[str, Any]:
    request = await create_request(client, user, sku, **overrides)
    response = await quote(client, request["id"])
    assert response.status_code == 200, response.text
    return response.json()


async def request_row(request_id: int) -> CustomRequest:
    async with session_scope() as session:
        return (
            await session.execute(select(CustomRequest).where(CustomRequest.id == request_id))
        ).scalar_one()


async def recipient_rows(request_id: int) -> list[CustomRecipient]:
    async with session_scope() as session:
        query = (
            select(CustomRecipient)
            .where(CustomRecipient.request_id == request_id)
            .order_by(CustomRecipient.idx)
        )
        return list((await session.execute(query)).scalars())
