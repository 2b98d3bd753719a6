"""Reviews in a real browser: the buyer confirms receipt, opens 评价晒单 from the order, gives 4 stars with
text and a photo; the review shows on the product's pages with the batch and a thumbnail that opens the
viewer (no script); staff hide it in the back office and it leaves the product page."""

from __future__ import annotations

import re

import pytest

from app.catalog.models import Product
from app.db import session_scope
from app.users.models import Role
from tests.orders.factories import shipped_order, sku_on_sale
from tests.reviews.factories import photo
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.traceability.factories import create_batch
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.browser


class TestReviewScenario:
    async def test_from_receipt_to_a_visible_review_and_its_moderation(self, new_page, client, tmp_path):
        sku = await sku_on_sale(stock=20)
        async with session_scope() as session:
            product = await session.get(Product, sku.product_id)
        await create_batch(product=product, batch_no="WC-2026-0815")
        buyer = await create_user(nickname="稻花香")
        address = await create_address(buyer)
        order = await shipped_order(client, buyer, address, sku)
        picture = tmp_path / "rice.jpg"
        picture.write_bytes(photo(exif=True))

        page = await new_page(phone=True)
        await log_in_on_the_way(page, f"/orders/{order['id']}", buyer.phone, DEFAULT_PASSWORD)
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="确认收货").click()
        await page.wait_for_url(re.compile(r"\?done=received"))

        await page.get_by_role("link", name="评价晒单").click()
        await page.wait_for_url(re.compile(rf"/account/reviews/{order['id']}/{sku.id}$"))
        await page.get_by_label("★★★★☆").check()
        await page.get_by_label(re.compile("^评价内容")).fill("新米很香，煮出来油亮。")
        await page.get_by_label(re.compile("^晒图")).set_input_files(str(picture))
        await screenshot(page, "review-form-phone", full_page=True)
        await page.get_by_role("button", name="发布评价").click()
        await page.wait_for_url(re.compile(rf"/products/{sku.product_id}/reviews\?done=created#review-\d+"))
        assert await page.locator("#review-notice").is_visible()
        review = page.locator("article.review").first
        assert await review.get_by_text("新米很香，煮出来油亮。").is_visible()
        assert await review.get_by_text("稻**香").is_visible()
        assert await review.locator(".review-batch").inner_text() == "WC-2026-0815"

        # The thumbnail opens the viewer; × closes it.
        viewer = page.locator(".photo-viewer").first
        assert not await viewer.is_visible()
        await review.get_by_role("img", name="买家晒图 1").click()
        assert await viewer.is_visible()
        await screenshot(page, "review-viewer-phone")
        await viewer.get_by_role("link", name="关闭").click()
        assert not await viewer.is_visible()

        # The product page shows the rating and the review.
        await page.goto(f"/products/{sku.product_id}")
        assert "4.0 分 · 1 条评价" in await page.locator("#rating-summary").inner_text()
        assert await page.get_by_text("新米很香，煮出来油亮。").is_visible()
        await screenshot(page, "product-reviews-phone", full_page=True)

        # Staff hide it with a reason; it leaves the product page and its rating.
        staff = await create_user(role=Role.merchant, nickname="店长")
        desk = await new_page()
        await log_in_on_the_way(desk, "/admin/reviews", staff.phone, DEFAULT_PASSWORD)
        assert await desk.get_by_text("新米很香，煮出来油亮。").is_visible()
        await desk.get_by_label("隐藏原因").first.fill("测试隐藏")
        await desk.get_by_role("button", name="隐藏").first.click()
        await desk.wait_for_url(re.compile(r"/admin/reviews\?done=hidden"))
        assert await desk.get_by_text("原因：测试隐藏").is_visible()
        await screenshot(desk, "admin-reviews")
        await page.goto(f"/products/{sku.product_id}")
        assert await page.get_by_text("新米很香，煮出来油亮。").count() == 0
        assert await page.locator("#rating-summary").count() == 0
