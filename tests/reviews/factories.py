"""Plain factory functions for reviews: a completed order (placed, paid, shipped, received through the
API), reviews written through the API, and the product's aggregates as stored."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import select

from app.catalog.models import Product, Sku
from app.db import session_scope
from app.reviews.models import Review
from app.users.models import User
from tests.orders.factories import customer, shipped_order, sku_on_sale
from tests.users.factories import auth


async def completed_order(
    client: httpx.AsyncClient, user: User | None = None, sku: Sku | None = None, qty: int = 1
) -> tuple[User, dict, Sku]:
    """(buyer, order, sku): an order its buyer has received (`completed`)."""
    if user is None:
        user, address = await customer()
    else:
        from tests.users.factories import create_address

        address = await create_address(user)
    sku = sku or await sku_on_sale()
    order = await shipped_order(client, user, address, sku, qty)
    response = await client.post(f"/api/orders/{order['id']}/confirm-receipt", headers=auth(user))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    return user, response.json(), sku


async def review(
    client: httpx.AsyncClient, user: User, order_id: int, sku_id: int, **body: Any
) -> httpx.Response:
    payload: dict[str, Any] = {"rating": 5, "text": "米粒饱满，煮出来很香。"}
    payload.update(body)
    return await client.post(
        f"/api/orders/{order_id}/items/{sku_id}/review", json=payload, headers=auth(user)
    )


def photo(fmt: str = "JPEG", size: tuple[int, int] = (320, 240), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, (230, 220, 190))
    out = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"
        data[0x8825] = {2: (45.0, 127.0, 0.0)}  # GPS: where the buyer lives
        kwargs["exif"] = data
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG of a few hundred bytes whose header claims width × height pixels (900 M by default)."""
    small = photo("PNG", size=(1, 1))
    ihdr = small.index(b"IHDR")
    header = b"IHDR" + struct.pack(">II", width, height) + small[ihdr + 12 : ihdr + 17]
    crc = struct.pack(">I", zlib.crc32(header) & 0xFFFFFFFF)
    return small[:ihdr] + header + crc + small[ihdr + 21 :]


async def upload(
    client: httpx.AsyncClient, user: User, data: bytes, name: str = "rice.jpg", ctype: str = "image/jpeg"
) -> httpx.Response:
    return await client.post("/api/review-images", files={"file": (name, data, ctype)}, headers=auth(user))


async def aggregates(product_id: int) -> tuple[int, int]:
    async with session_scope() as session:
        row = (
            await session.execute(
                select(Product.rating_sum, Product.rating_count).where(Product.id == product_id)
            )
        ).one()
        return int(row[0]), int(row[1])


async def reviews_of(product_id: int) -> list[Review]:
    async with session_scope() as session:
        rows = await session.execute(
            select(Review).where(Review.product_id == product_id).order_by(Review.id)
        )
        return list(rows.scalars())
