"""Reviews through the API: only buyers of completed orders, once per line, edited once within 7 days;
the product's rating in the cached list and detail; the public list; staff hide, show again and reply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.catalog.models import Product
from app.db import session_scope
from app.users.models import Role
from tests.orders.factories import customer, paid_order, sku_on_sale, staff
from tests.problems import assert_problem
from tests.reviews.factories import aggregates, bomb, completed_order, photo, review, reviews_of, upload
from tests.traceability.factories import create_batch
from tests.users.factories import auth, create_user


async def product_of(sku) -> Product:
    async with session_scope() as session:
        return await session.get(Product, sku.product_id)


class TestCreateReview:
    async def test_the_buyer_reviews_a_line_once_and_sees_it_answered_201(self, client):
        user, order, sku = await completed_order(client)
        response = await review(client, user, order["id"], sku.id, rating=4, text="香，软糯")
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["rating"], body["text"], body["is_automatic"], body["edited"]) == (
            4,
            "香，软糯",
            False,
            False,
        )
        assert body["editable_until"] is not None and body["status"] == "visible"
        again = await review(client, user, order["id"], sku.id, rating=1)
        assert_problem(again, 409, "already_reviewed")
        assert await aggregates(sku.product_id) == (4, 1)

    async def test_twenty_clicks_at_once_make_one_review(self, client):
        import asyncio

        user, order, sku = await completed_order(client)
        responses = await asyncio.gather(
            *(review(client, user, order["id"], sku.id, rating=3) for _ in range(20))
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] + [409] * 19, [r.text for r in responses]
        assert len(await reviews_of(sku.product_id)) == 1
        assert await aggregates(sku.product_id) == (3, 1)

    async def test_someone_elses_order_is_404_and_anonymous_is_401(self, client):
        _buyer, order, sku = await completed_order(client)
        stranger = await create_user()
        assert_problem(await review(client, stranger, order["id"], sku.id), 404, "order_line_not_found")
        anonymous = await client.post(f"/api/orders/{order['id']}/items/{sku.id}/review", json={"rating": 5})
        assert_problem(anonymous, 401, "not_authenticated")
        assert await reviews_of(sku.product_id) == []

    async def test_a_sku_not_in_the_order_is_404(self, client):
        user, order, _sku = await completed_order(client)
        other = await sku_on_sale()
        assert_problem(await review(client, user, order["id"], other.id), 404, "order_line_not_found")

    async def test_an_order_not_yet_received_cannot_be_reviewed(self, client):
        user, address = await customer()
        sku = await sku_on_sale()
        order = await paid_order(client, user, address, sku)
        assert_problem(await review(client, user, order["id"], sku.id), 409, "order_not_reviewable")

    @pytest.mark.parametrize(
        "body",
        [
            {"rating": 0},
            {"rating": 6},
            {"rating": "5"},
            {"rating": 4.5},
            {"rating": 5, "text": "米" * 501},
            {"rating": 5, "image_ids": list(range(1, 11))},
            {"rating": 5, "stars": 5},
            {"text": "没有评分"},
        ],
    )
    async def test_bad_bodies_are_422_and_write_nothing(self, client, body):
        user, order, sku = await completed_order(client)
        response = await client.post(
            f"/api/orders/{order['id']}/items/{sku.id}/review", json=body, headers=auth(user)
        )
        assert response.status_code == 422, response.text
        assert await reviews_of(sku.product_id) == []

    async def test_500_characters_are_allowed(self, client):
        user, order, sku = await completed_order(client)
        response = await review(client, user, order["id"], sku.id, text="香" * 500)
        assert response.status_code == 201, response.text

    async def test_the_batch_of_the_line_is_shown(self, client):
        sku = await sku_on_sale()
        await create_batch(product=await product_of(sku), batch_no="WC-2026-0815")
        user, order, _ = await completed_order(client, sku=sku)
        created = await review(client, user, order["id"], sku.id)
        assert created.json()["batch_nos"] == ["WC-2026-0815"]
        listed = (await client.get(f"/api/products/{sku.product_id}/reviews")).json()
        assert listed["items"][0]["batch_nos"] == ["WC-2026-0815"]


class TestPhotos:
    async def test_photos_are_re_encoded_without_exif_and_shown_in_order(self, client):
        from io import BytesIO

        from PIL import Image

        user, order, sku = await completed_order(client)
        first = (await upload(client, user, photo(exif=True))).json()
        second = (await upload(client, user, photo("PNG"), name="b.png", ctype="image/png")).json()
        assert first["url"].startswith("/media/reviews/") and first["url"].endswith(".jpg")
        served = await client.get(first["url"])
        assert served.status_code == 200
        image = Image.open(BytesIO(served.content))
        assert image.format == "JPEG" and not image.getexif()
        response = await review(client, user, order["id"], sku.id, image_ids=[second["id"], first["id"]])
        assert response.status_code == 201, response.text
        assert response.json()["images"] == [second["url"], first["url"]]

    async def test_nine_photos_at_most(self, client):
        user, order, sku = await completed_order(client)
        ids = [(await upload(client, user, photo())).json()["id"] for _ in range(9)]
        assert (await review(client, user, order["id"], sku.id, image_ids=ids)).status_code == 201

    async def test_someone_elses_or_a_used_photo_is_refused(self, client):
        user, order, sku = await completed_order(client)
        stranger = await create_user()
        theirs = (await upload(client, stranger, photo())).json()["id"]
        response = await review(client, user, order["id"], sku.id, image_ids=[theirs])
        assert_problem(response, 422, "review_image_invalid")
        mine = (await upload(client, user, photo())).json()["id"]
        assert_problem(
            await review(client, user, order["id"], sku.id, image_ids=[mine, mine]),
            422,
            "review_image_invalid",
        )
        assert await reviews_of(sku.product_id) == [] and await aggregates(sku.product_id) == (0, 0)
        assert (await review(client, user, order["id"], sku.id, image_ids=[mine])).status_code == 201
        _u2, order2, _ = await completed_order(client, user=user, sku=await sku_on_sale())
        sku2 = order2["items"][0]["sku_id"]
        assert_problem(
            await review(client, user, order2["id"], sku2, image_ids=[mine]), 422, "review_image_invalid"
        )

    async def test_svg_is_refused(self, client):
        user = await create_user()
        svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'
        assert_problem(
            await upload(client, user, svg, name="a.svg", ctype="image/svg+xml"), 422, "invalid_image"
        )

    async def test_oversize_is_refused(self, client):
        import os

        user = await create_user()
        response = await upload(client, user, b"\xff\xd8\xff" + os.urandom(5 * 1024 * 1024))
        assert_problem(response, 413, "image_too_large")

    async def test_a_decompression_bomb_is_refused(self, client):
        user = await create_user()
        # A tiny PNG that claims 30,000 × 30,000 pixels: refused before it is decoded.
        assert_problem(
            await upload(client, user, bomb(), name="b.png", ctype="image/png"), 413, "image_too_large"
        )

    async def test_anonymous_upload_is_401(self, client):
        response = await client.post("/api/review-images", files={"file": ("a.jpg", photo(), "image/jpeg")})
        assert_problem(response, 401, "not_authenticated")


class TestEdit:
    async def edit(self, client, user, order, sku, **body):
        payload = {"rating": 2, "text": "改一下", **body}
        return await client.put(
            f"/api/orders/{order['id']}/items/{sku.id}/review", json=payload, headers=auth(user)
        )

    async def test_edited_once_within_7_days_and_the_average_follows(self, client):
        user, order, sku = await completed_order(client)
        await review(client, user, order["id"], sku.id, rating=5)
        edited = await self.edit(client, user, order, sku)
        assert edited.status_code == 200, edited.text
        assert (edited.json()["rating"], edited.json()["edited"], edited.json()["editable_until"]) == (
            2,
            True,
            None,
        )
        assert await aggregates(sku.product_id) == (2, 1)
        assert_problem(await self.edit(client, user, order, sku, rating=1), 409, "review_not_editable")
        assert await aggregates(sku.product_id) == (2, 1)

    async def test_not_after_7_days(self, client, shop_clock):
        user, order, sku = await completed_order(client)
        await review(client, user, order["id"], sku.id, rating=5)
        shop_clock.advance(timedelta(days=7, minutes=1))
        assert_problem(await self.edit(client, user, order, sku), 409, "review_not_editable")

    async def test_an_unreviewed_line_has_nothing_to_edit(self, client):
        user, order, sku = await completed_order(client)
        assert_problem(await self.edit(client, user, order, sku), 404, "review_not_found")


class TestRatingOnTheProductPages:
    async def test_list_and_detail_show_one_decimal_average_and_count(self, client):
        sku = await sku_on_sale()
        before = (await client.get(f"/api/products/{sku.product_id}")).json()
        assert (before["rating_avg"], before["rating_count"]) == (None, 0)
        for rating in (5, 4, 4):
            user, order, _ = await completed_order(client, sku=sku)
            assert (await review(client, user, order["id"], sku.id, rating=rating)).status_code == 201
        detail = (await client.get(f"/api/products/{sku.product_id}")).json()
        assert (detail["rating_avg"], detail["rating_count"]) == (4.3, 3)
        [item] = [i for i in (await client.get("/api/products")).json()["items"] if i["id"] == sku.product_id]
        assert (item["rating_avg"], item["rating_count"]) == (4.3, 3)


class TestPublicList:
    async def test_newest_first_masked_and_filtered_by_photos(self, client):
        sku = await sku_on_sale()
        buyer = await create_user(nickname="稻花香")
        _, first, _ = await completed_order(client, user=buyer, sku=sku)
        await review(client, buyer, first["id"], sku.id, text="第一条")
        other = await create_user(nickname="张")
        _, second, _ = await completed_order(client, user=other, sku=sku)
        pic = (await upload(client, other, photo())).json()["id"]
        await review(client, other, second["id"], sku.id, text="有图", image_ids=[pic])
        page = (await client.get(f"/api/products/{sku.product_id}/reviews")).json()
        assert [(i["text"], i["nickname_masked"]) for i in page["items"]] == [
            ("有图", "张**"),
            ("第一条", "稻**香"),
        ]
        assert page["total"] == 2 and "稻花香" not in str(page)
        only_photos = (await client.get(f"/api/products/{sku.product_id}/reviews?with_images=true")).json()
        assert [i["text"] for i in only_photos["items"]] == ["有图"]
        paged = (await client.get(f"/api/products/{sku.product_id}/reviews?page=2&size=1")).json()
        assert [i["text"] for i in paged["items"]] == ["第一条"]

    async def test_unknown_product_is_404(self, client):
        assert_problem(await client.get("/api/products/999999/reviews"), 404, "product_not_found")


class TestModeration:
    async def test_hide_keeps_the_reason_leaves_the_aggregates_and_unhide_brings_it_back(self, client):
        sku = await sku_on_sale()
        user, order, _ = await completed_order(client, sku=sku)
        other, order2, _ = await completed_order(client, sku=sku)
        review_id = (await review(client, user, order["id"], sku.id, rating=1)).json()["id"]
        await review(client, other, order2["id"], sku.id, rating=5)
        headers = auth(await staff())
        hidden = await client.post(
            f"/api/admin/reviews/{review_id}/hide", json={"reason": "广告"}, headers=headers
        )
        assert hidden.status_code == 200, hidden.text
        assert (hidden.json()["status"], hidden.json()["hidden_reason"]) == ("hidden", "广告")
        detail = (await client.get(f"/api/products/{sku.product_id}")).json()
        assert (detail["rating_avg"], detail["rating_count"]) == (5.0, 1)
        public = (await client.get(f"/api/products/{sku.product_id}/reviews")).json()
        assert [i["rating"] for i in public["items"]] == [5]
        again = await client.post(
            f"/api/admin/reviews/{review_id}/hide", json={"reason": "再藏"}, headers=headers
        )
        assert again.status_code == 200 and await aggregates(sku.product_id) == (5, 1)
        listed = (await client.get("/api/admin/reviews?status=hidden", headers=headers)).json()
        assert [(i["id"], i["hidden_reason"]) for i in listed["items"]] == [(review_id, "广告")]
        shown = await client.post(f"/api/admin/reviews/{review_id}/unhide", headers=headers)
        assert shown.json()["status"] == "visible" and shown.json()["hidden_reason"] == "广告"
        assert await aggregates(sku.product_id) == (6, 2)
        detail = (await client.get(f"/api/products/{sku.product_id}")).json()
        assert (detail["rating_avg"], detail["rating_count"]) == (3.0, 2)

    async def test_reply_is_shown_publicly(self, client):
        user, order, sku = await completed_order(client)
        review_id = (await review(client, user, order["id"], sku.id)).json()["id"]
        response = await client.post(
            f"/api/admin/reviews/{review_id}/reply",
            json={"text": "谢谢您的支持！"},
            headers=auth(await staff()),
        )
        assert response.status_code == 200, response.text
        public = (await client.get(f"/api/products/{sku.product_id}/reviews")).json()
        assert public["items"][0]["reply"] == "谢谢您的支持！"

    @pytest.mark.parametrize("path", ["hide", "unhide", "reply"])
    async def test_customers_are_403_anonymous_401_unknown_404(self, client, path):
        user, order, sku = await completed_order(client)
        review_id = (await review(client, user, order["id"], sku.id)).json()["id"]
        body = {"reason": "x"} if path == "hide" else {"text": "x"}
        url = f"/api/admin/reviews/{review_id}/{path}"
        assert_problem(await client.post(url, json=body, headers=auth(user)), 403, "forbidden")
        assert_problem(await client.post(url, json=body), 401, "not_authenticated")
        missing = await client.post(
            f"/api/admin/reviews/999999/{path}", json=body, headers=auth(await staff(Role.admin))
        )
        assert_problem(missing, 404, "review_not_found")
        assert await aggregates(sku.product_id) == (5, 1)

    async def test_strict_bodies(self, client):
        user, order, sku = await completed_order(client)
        review_id = (await review(client, user, order["id"], sku.id)).json()["id"]
        headers = auth(await staff())
        for body in ({"reason": ""}, {"reason": "x", "extra": 1}, {"reason": "长" * 201}):
            response = await client.post(f"/api/admin/reviews/{review_id}/hide", json=body, headers=headers)
            assert response.status_code == 422, response.text
        assert await aggregates(sku.product_id) == (5, 1)

    async def test_hide_without_a_body_records_that_no_reason_was_given(self, client):
        user, order, sku = await completed_order(client)
        review_id = (await review(client, user, order["id"], sku.id)).json()["id"]
        response = await client.post(f"/api/admin/reviews/{review_id}/hide", headers=auth(await staff()))
        assert response.status_code == 200, response.text
        assert response.json()["hidden_reason"] == "未注明原因"
        assert await aggregates(sku.product_id) == (0, 0)
