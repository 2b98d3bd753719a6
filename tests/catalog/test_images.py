"""Staff upload product photos: the bytes decide the type, every image is re-encoded without EXIF."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.catalog.models import ProductImage
from app.config import get_settings
from app.db import session_scope
from app.users.models import Role
from tests.catalog.factories import create_product
from tests.problems import assert_problem
from tests.users.factories import auth, create_user


def picture(
    fmt: str = "JPEG", size=(640, 480), colour=(200, 160, 60), exif: bool = False, mode="RGB"
) -> bytes:
    image = Image.new(mode, size, colour if mode == "RGB" else (*colour, 128))
    out = io.BytesIO()
    kwargs = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"  # Make
        data[0x0112] = 6  # Orientation: rotate 90° to display upright
        data[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPS latitude
        kwargs["exif"] = data
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


@pytest.fixture
async def headers():
    return auth(await create_user(role=Role.merchant))


def media_files() -> set[str]:
    root = get_settings().media_dir
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def image_count() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(ProductImage))).scalar_one()


async def upload(client, product_id, headers, data, name="photo.jpg", content_type="image/jpeg", alt=""):
    return await client.post(
        f"/api/admin/products/{product_id}/images",
        files={"file": (name, data, content_type)},
        data={"alt": alt},
        headers=headers,
    )


class TestUpload:
    @pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
    async def test_accepts_jpeg_png_webp_and_serves_a_jpeg(self, client, headers, fmt):
        product = await create_product()
        response = await upload(
            client, product.id, headers, picture(fmt), name=f"x.{fmt.lower()}", alt="正面"
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (
            body["url"].startswith("/media/products/")
            and body["url"].endswith(".jpg")
            and body["alt"] == "正面"
        )
        served = await client.get(body["url"])
        assert served.status_code == 200
        assert Image.open(io.BytesIO(served.content)).format == "JPEG"
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [i["url"] for i in detail["images"]] == [body["url"]]
        assert detail["cover_image"] == body["url"]
        listed = (await client.get("/api/products")).json()["items"][0]
        assert listed["cover_image"] == body["url"]

    async def test_exif_is_stripped_orientation_applied_and_big_images_shrunk(self, client, headers):
        product = await create_product()
        response = await upload(client, product.id, headers, picture(size=(3200, 1000), exif=True))
        assert response.status_code == 201, response.text
        stored = Image.open(io.BytesIO((await client.get(response.json()["url"])).content))
        assert not stored.getexif()
        assert b"SpyCam" not in (await client.get(response.json()["url"])).content
        # turned upright (portrait) and fit within 1600 × 1600
        assert stored.size == (500, 1600)

    @pytest.mark.parametrize(
        "data, name, content_type",
        [
            (b"GIF89a" + b"\x00" * 100, "cat.jpg", "image/jpeg"),  # a GIF claiming to be a JPEG
            (picture("GIF"), "cat.png", "image/png"),  # a real GIF, any name
            (picture("BMP"), "cat.webp", "image/webp"),
            (b"<?php system($_GET['c']); ?>", "shell.jpg", "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "broken.png", "image/png"),  # a PNG header and nothing else
            (picture("JPEG")[:200], "truncated.jpg", "image/jpeg"),
            (b"", "empty.jpg", "image/jpeg"),
        ],
    )
    async def test_files_that_lie_about_their_type_are_refused(
        self, client, headers, data, name, content_type
    ):
        product = await create_product()
        files_before = media_files()
        response = await upload(client, product.id, headers, data, name=name, content_type=content_type)
        assert_problem(response, 422, "invalid_image")
        assert await image_count() == 0
        assert media_files() == files_before

    async def test_too_large_is_413(self, client, headers):
        product = await create_product()
        response = await upload(client, product.id, headers, b"\xff\xd8\xff" + os.urandom(5 * 1024 * 1024))
        assert_problem(response, 413, "image_too_large")
        assert await image_count() == 0

    async def test_unknown_product_is_404(self, client, headers):
        assert_problem(await upload(client, 9999, headers, picture()), 404, "product_not_found")


class TestOrderAndDelete:
    async def test_reorder_moves_the_cover_and_delete_removes_the_file(self, client, headers):
        product = await create_product()
        first = (await upload(client, product.id, headers, picture(colour=(255, 0, 0)))).json()
        second = (await upload(client, product.id, headers, picture(colour=(0, 0, 255)))).json()
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [i["id"] for i in detail["images"]] == [first["id"], second["id"]]
        assert detail["cover_image"] == first["url"]

        response = await client.put(
            f"/api/admin/products/{product.id}/images/order",
            json={"image_ids": [second["id"], first["id"]]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [i["id"] for i in detail["images"]] == [second["id"], first["id"]]
        assert detail["cover_image"] == second["url"]
        assert (await client.get("/api/products")).json()["items"][0]["cover_image"] == second["url"]

        deleted = await client.delete(
            f"/api/admin/products/{product.id}/images/{second['id']}", headers=headers
        )
        assert deleted.status_code == 204
        assert (await client.get(second["url"])).status_code == 404
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [i["id"] for i in detail["images"]] == [first["id"]] and detail["cover_image"] == first["url"]

    @pytest.mark.parametrize("ids", [[], [1], "same twice"])
    async def test_order_must_list_every_image_once(self, client, headers, ids):
        product = await create_product()
        a = (await upload(client, product.id, headers, picture())).json()
        b = (await upload(client, product.id, headers, picture())).json()
        if ids == "same twice":
            ids = [a["id"], a["id"]]
        response = await client.put(
            f"/api/admin/products/{product.id}/images/order", json={"image_ids": ids}, headers=headers
        )
        assert_problem(response, 422, "image_order_mismatch")
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [i["id"] for i in detail["images"]] == [a["id"], b["id"]]

    async def test_deleting_another_products_image_is_404(self, client, headers):
        product, other = await create_product(), await create_product(name="别的")
        image = (await upload(client, product.id, headers, picture())).json()
        response = await client.delete(
            f"/api/admin/products/{other.id}/images/{image['id']}", headers=headers
        )
        assert_problem(response, 404, "image_not_found")
        assert await image_count() == 1
