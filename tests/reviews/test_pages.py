"""The review pages without a browser: the form from 我的订单 (photos uploaded with it), refusals shown on
the form, the product's reviews page, the product page's section, and the back office's moderation."""

from __future__ import annotations

import re

from tests.orders.factories import staff
from tests.reviews.factories import aggregates, completed_order, photo, reviews_of
from tests.storefront.pages import csrf_from, log_in


async def open_form(client, order, sku):
    response = await client.get(f"/account/reviews/{order['id']}/{sku.id}")
    assert response.status_code == 200, response.text
    return response


class TestReviewForm:
    async def test_the_order_page_links_to_the_form_and_a_review_with_photos_is_published(self, client):
        user, order, sku = await completed_order(client)
        await log_in(client, user)
        detail = await client.get(f"/orders/{order['id']}")
        assert f'href="/account/reviews/{order["id"]}/{sku.id}"' in detail.text
        form = await open_form(client, order, sku)
        response = await client.post(
            f"/account/reviews/{order['id']}/{sku.id}",
            data={"csrf_token": csrf_from(form.text), "rating": "4", "text": "米香浓郁"},
            files=[
                ("photos", ("a.jpg", photo(), "image/jpeg")),
                ("photos", ("b.png", photo("PNG"), "image/png")),
            ],
        )
        assert response.status_code == 303, response.text
        assert re.match(
            rf"/products/{sku.product_id}/reviews\?done=created#review-\d+", response.headers["location"]
        )
        [saved] = await reviews_of(sku.product_id)
        assert (saved.rating, saved.text, len(saved.images)) == (4, "米香浓郁", 2)
        page = await client.get(response.headers["location"])
        assert "米香浓郁" in page.text and "评价已发布" in page.text and 'class="photo-viewer"' in page.text
        assert "<script>" not in page.text and " style=" not in page.text
        product = await client.get(f"/products/{sku.product_id}")
        assert "米香浓郁" in product.text and "4.0 分 · 1 条评价" in product.text

    async def test_contact_spam_is_shown_on_the_form_and_nothing_is_written(self, client):
        user, order, sku = await completed_order(client)
        await log_in(client, user)
        form = await open_form(client, order, sku)
        response = await client.post(
            f"/account/reviews/{order['id']}/{sku.id}",
            data={"csrf_token": csrf_from(form.text), "rating": "5", "text": "加我vx rice88"},
        )
        assert response.status_code == 422 and "联系方式" in response.text
        assert await reviews_of(sku.product_id) == []

    async def test_someone_elses_order_is_404(self, client):
        _buyer, order, sku = await completed_order(client)
        other, _o, _s = await completed_order(client)
        await log_in(client, other)
        assert (await client.get(f"/account/reviews/{order['id']}/{sku.id}")).status_code == 404


class TestModerationPages:
    async def test_staff_hide_and_show_again_from_the_list(self, client):
        user, order, sku = await completed_order(client)
        await log_in(client, user)
        form = await open_form(client, order, sku)
        await client.post(
            f"/account/reviews/{order['id']}/{sku.id}",
            data={"csrf_token": csrf_from(form.text), "rating": "2", "text": "一般"},
        )
        client.cookies.clear()
        await log_in(client, await staff())
        listing = await client.get("/admin/reviews")
        assert listing.status_code == 200 and "一般" in listing.text
        [saved] = await reviews_of(sku.product_id)
        hidden = await client.post(
            f"/admin/reviews/{saved.id}/hide",
            data={"csrf_token": csrf_from(listing.text), "reason": "与商品无关"},
        )
        assert hidden.status_code == 303 and await aggregates(sku.product_id) == (0, 0)
        listing = await client.get("/admin/reviews?status=hidden")
        assert "与商品无关" in listing.text
        assert "一般" not in (await client.get(f"/products/{sku.product_id}/reviews")).text
        await client.post(f"/admin/reviews/{saved.id}/unhide", data={"csrf_token": csrf_from(listing.text)})
        assert await aggregates(sku.product_id) == (2, 1)

    async def test_customers_do_not_see_the_moderation_list(self, client):
        user, _order, _sku = await completed_order(client)
        await log_in(client, user)
        assert (await client.get("/admin/reviews")).status_code in (403, 404)
