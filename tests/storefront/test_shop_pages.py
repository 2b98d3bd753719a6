from __future__ import annotations

from app.catalog.models import ProductStatus
from tests.catalog.factories import create_category, create_product
from tests.storefront.pages import is_html


class TestHomePage:
    async def test_shows_featured_products_and_categories(self, client):
        rice = await create_category(name="大米")
        await create_product(name="五常大米 稻花香2号", category=rice)
        await create_product(name="草稿商品", status=ProductStatus.draft.value)
        response = await client.get("/")
        assert response.status_code == 200 and is_html(response)
        assert "五常大米 稻花香2号" in response.text and "¥128.00" in response.text
        assert "草稿商品" not in response.text
        assert f'href="/products?category_id={rice.id}"' in response.text

    async def test_empty_shop_says_so(self, client):
        assert "新米即将上架" in (await client.get("/")).text


class TestProductList:
    async def test_search_finds_chinese_names(self, client):
        await create_product(name="五常大米 稻花香2号")
        await create_product(name="东北小米", variety="黄小米")
        response = await client.get("/products", params={"q": "稻花香"})
        assert "五常大米 稻花香2号" in response.text and "东北小米" not in response.text
        assert "共 1 件商品" in response.text and "搜索“稻花香”" in response.text

    async def test_category_filter_and_sort(self, client):
        rice, millet = await create_category(name="大米"), await create_category(name="小米")
        await create_product(
            name="贵的米", category=rice, skus=[dict(name="5kg", price_fen=20000, stock=5, weight_g=5000)]
        )
        await create_product(
            name="便宜的米", category=rice, skus=[dict(name="5kg", price_fen=5990, stock=5, weight_g=5000)]
        )
        await create_product(name="小米一号", category=millet)
        response = await client.get("/products", params={"category_id": rice.id, "sort": "price_asc"})
        text = response.text
        assert "小米一号" not in text and text.index("便宜的米") < text.index("贵的米")
        assert "¥59.90" in text and "¥200.00" in text

    async def test_nonsense_filters_are_ignored_not_errors(self, client):
        await create_product(name="五常大米")
        response = await client.get("/products", params={"category_id": "abc", "sort": "x", "page": "-1"})
        assert response.status_code == 200 and "五常大米" in response.text

    async def test_pages(self, client):
        for i in range(21):
            await create_product(name=f"米{i:02d}")
        first = await client.get("/products")
        assert "第 1 / 2 页" in first.text and 'href="/products?page=2"' in first.text
        second = await client.get("/products?page=2")
        assert second.text.count('class="product-card"') == 1


class TestProductDetail:
    async def test_shows_skus_with_prices_and_stock(self, client):
        product = await create_product(
            name="五常大米 稻花香2号",
            skus=[
                dict(name="5kg 真空包装", price_fen=12800, stock=100, weight_g=5000),
                dict(name="2.5kg 礼盒", price_fen=5990, stock=3, weight_g=2500),
                dict(name="10kg 家庭装", price_fen=23900, stock=0, weight_g=10000),
            ],
        )
        response = await client.get(f"/products/{product.id}")
        assert response.status_code == 200
        text = response.text
        assert "5kg 真空包装" in text and "¥128.00" in text and "¥59.90" in text
        assert "仅剩 3 件" in text and "已售罄" in text
        assert 'action="/cart/items"' in text and 'name="csrf_token"' in text
        assert 'action="/verify"' in text

    async def test_draft_unknown_and_malformed_are_404_pages(self, client):
        draft = await create_product(status=ProductStatus.draft.value)
        for path in (f"/products/{draft.id}", "/products/999999", "/products/abc", "/products/0"):
            response = await client.get(path)
            assert response.status_code == 404 and is_html(response), path
            assert "商品不存在或已下架" in response.text
