from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from app.catalog.models import Product, ProductImage, Sku
from app.db import session_scope
from app.storefront.admin_products import yuan_to_fen
from app.users.models import Role
from tests.catalog.factories import create_category, create_product, skus_of
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import create_user


async def as_merchant(client) -> str:
    await log_in(client, await create_user(role=Role.merchant))
    return csrf_from((await client.get("/admin/products")).text)


async def products_named(name: str) -> list[Product]:
    async with session_scope() as session:
        return list((await session.execute(select(Product).where(Product.name == name))).scalars())


def test_yuan_to_fen_without_floats():
    assert yuan_to_fen("59.90") == 5990
    assert yuan_to_fen("59.9") == 5990
    assert yuan_to_fen("¥128") == 12800
    assert yuan_to_fen("0.07") == 7
    for bad in ("", "-1", "1.234", "abc", "1e3", "59,90.1"):
        assert yuan_to_fen(bad) is None, bad


class TestAdminProducts:
    async def test_create_publish_and_see_it_in_the_shop(self, client):
        rice = await create_category(name="大米")
        token = await as_merchant(client)
        response = await client.post(
            "/admin/products",
            data={
                "name": "五常大米 稻花香2号 新米",
                "subtitle": "当季新米",
                "origin": "黑龙江五常",
                "variety": "稻花香2号",
                "category_id": str(rice.id),
                "sku_name": "5kg 真空包装",
                "sku_price": "59.90",
                "sku_stock": "20",
                "sku_weight_g": "5000",
                "status": "published",
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        [product] = await products_named("五常大米 稻花香2号 新米")
        assert product.status == "published" and product.category_id == rice.id
        [sku] = await skus_of(product)
        assert (sku.price_fen, sku.stock, sku.weight_g) == (5990, 20, 5000)
        shop = await client.get("/products", params={"q": "稻花香"})
        assert "五常大米 稻花香2号 新米" in shop.text and "¥59.90" in shop.text

    async def test_bad_price_is_shown_and_nothing_created(self, client):
        token = await as_merchant(client)
        response = await client.post(
            "/admin/products",
            data={
                "name": "坏价格",
                "sku_name": "1kg",
                "sku_price": "5.999",
                "sku_stock": "1",
                "csrf_token": token,
            },
        )
        assert response.status_code == 422 and "价格请填写元" in response.text
        assert await products_named("坏价格") == []

    async def test_edit_stock_sku_and_status(self, client):
        product = await create_product(name="东北大米")
        [sku] = await skus_of(product)
        token = await as_merchant(client)
        page = await client.get(f"/admin/products/{product.id}")
        assert page.status_code == 200 and "更新库存" in page.text
        await client.post(f"/admin/skus/{sku.id}/stock", data={"stock": "7", "csrf_token": token})
        bad = await client.post(f"/admin/skus/{sku.id}/stock", data={"stock": "-1", "csrf_token": token})
        assert bad.headers["location"].endswith("error=stock")
        await client.post(
            f"/admin/products/{product.id}/skus",
            data={
                "name": "10kg 家庭装",
                "price": "199",
                "stock": "3",
                "weight_g": "10000",
                "csrf_token": token,
            },
        )
        response = await client.post(
            f"/admin/products/{product.id}",
            data={
                "name": "东北大米（新）",
                "subtitle": "",
                "description": "好米",
                "status": "archived",
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        skus = {s.name: s for s in await skus_of(product)}
        assert skus["5kg 真空包装"].stock == 7 and skus["10kg 家庭装"].price_fen == 19900
        [saved] = await products_named("东北大米（新）")
        assert saved.status == "archived"
        assert (await client.get(f"/products/{product.id}")).status_code == 404

    async def test_image_upload_and_delete(self, client):
        product = await create_product(name="有图的米")
        token = await as_merchant(client)
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 180, 90)).save(buffer, "PNG")
        response = await client.post(
            f"/admin/products/{product.id}/images",
            data={"alt": "米袋正面", "csrf_token": token},
            files={"file": ("rice.png", buffer.getvalue(), "image/png")},
        )
        assert response.headers["location"].endswith("done=image")
        not_image = await client.post(
            f"/admin/products/{product.id}/images",
            data={"csrf_token": token},
            files={"file": ("x.png", b"<svg/>", "image/png")},
        )
        assert not_image.headers["location"].endswith("error=invalid_image")
        async with session_scope() as session:
            [image] = (await session.execute(select(ProductImage))).scalars().all()
        detail = await client.get(f"/products/{product.id}")
        assert image.url in detail.text and "米袋正面" in detail.text
        await client.post(
            f"/admin/products/{product.id}/images/{image.id}/delete", data={"csrf_token": token}
        )
        async with session_scope() as session:
            assert (await session.execute(select(ProductImage))).scalars().all() == []

    async def test_customer_cannot_change_stock(self, client):
        product = await create_product()
        [sku] = await skus_of(product)
        await log_in(client, await create_user())
        token = csrf_from((await client.get("/")).text)
        response = await client.post(f"/admin/skus/{sku.id}/stock", data={"stock": "0", "csrf_token": token})
        assert response.status_code == 403
        async with session_scope() as session:
            assert (await session.get(Sku, sku.id)).stock == 100
