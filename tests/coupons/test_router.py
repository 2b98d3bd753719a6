"""The coupon API: staff create, list with usage, pause and resume; customers claim and list theirs."""

from __future__ import annotations

from datetime import timedelta

from app.db import utcnow
from app.users.models import Role
from tests.catalog.factories import create_category
from tests.coupons.factories import claim, claimed_code, create_coupon, expire
from tests.orders.factories import customer, sku_on_sale, staff
from tests.problems import assert_problem
from tests.users.factories import auth, create_user


def body(**overrides):
    now = utcnow()
    data = {
        "name": "满199减30",
        "kind": "fixed",
        "amount_fen": 3000,
        "threshold_fen": 19900,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(),
        "total_quantity": 50,
        "per_customer_limit": 2,
    }
    data.update(overrides)
    return data


class TestCreateCoupon:
    async def test_staff_create_a_manjian_coupon(self, client):
        response = await client.post("/api/admin/coupons", json=body(), headers=auth(await staff()))
        assert response.status_code == 201, response.text
        coupon = response.json()
        assert coupon["code"].startswith("CP") and coupon["id"] >= 1
        assert coupon["kind"] == "fixed" and coupon["threshold_fen"] == 19900
        assert (coupon["claimed_count"], coupon["used_count"], coupon["status"]) == (0, 0, "active")
        assert coupon["product_ids"] == [] and coupon["category_ids"] == []

    async def test_a_percent_coupon_scoped_to_a_category_and_a_product(self, client):
        rice = await create_category(name="五常大米")
        sku = await sku_on_sale()
        response = await client.post(
            "/api/admin/coupons",
            json=body(
                kind="percent",
                amount_fen=None,
                percent_off=15,
                max_discount_fen=2000,
                category_ids=[rice.id],
                product_ids=[sku.product_id, sku.product_id],
            ),
            headers=auth(await staff(Role.admin)),
        )
        assert response.status_code == 201, response.text
        assert response.json()["category_ids"] == [rice.id]
        assert response.json()["product_ids"] == [sku.product_id]

    async def test_customers_are_refused_and_anonymous_must_log_in(self, client):
        user, _ = await customer()
        assert_problem(
            await client.post("/api/admin/coupons", json=body(), headers=auth(user)), 403, "forbidden"
        )
        assert_problem(await client.post("/api/admin/coupons", json=body()), 401, "not_authenticated")

    async def test_terms_that_do_not_fit_the_kind_are_422(self, client):
        headers = auth(await staff())
        for bad in (
            body(amount_fen=None),
            body(kind="percent", amount_fen=None),
            body(kind="percent", amount_fen=None, percent_off=100),
            body(kind="percent", amount_fen=None, percent_off=0),
            body(ends_at=body()["starts_at"]),
            body(total_quantity=0),
            body(unknown=1),
        ):
            assert_problem(
                await client.post("/api/admin/coupons", json=bad, headers=headers), 422, "validation_error"
            )

    async def test_an_unknown_product_in_the_scope_is_422(self, client):
        response = await client.post(
            "/api/admin/coupons", json=body(product_ids=[999_999]), headers=auth(await staff())
        )
        assert assert_problem(response, 422, "coupon_scope_invalid")["product_ids"] == [999_999]


class TestStaffListAndPause:
    async def test_usage_counts_and_pause_resume(self, client):
        coupon = await create_coupon(total_quantity=5)
        for _ in range(2):
            user, _ = await customer()
            await claimed_code(client, user, coupon)
        headers = auth(await staff())
        listed = (await client.get("/api/admin/coupons", headers=headers)).json()
        assert listed["total"] == 1
        assert (listed["items"][0]["claimed_count"], listed["items"][0]["used_count"]) == (2, 0)

        paused = await client.post(f"/api/admin/coupons/{coupon.id}/pause", headers=headers)
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        user, _ = await customer()
        refused = assert_problem(await claim(client, user, coupon), 409, "coupon_not_claimable")
        assert refused["reason"] == "paused"
        assert (await client.get("/api/coupons")).json()["total"] == 0

        resumed = await client.post(f"/api/admin/coupons/{coupon.id}/resume", headers=headers)
        assert resumed.json()["status"] == "active"
        assert (await claim(client, user, coupon)).status_code == 201

    async def test_an_unknown_coupon_is_404(self, client):
        headers = auth(await staff())
        assert_problem(
            await client.post("/api/admin/coupons/999999/pause", headers=headers),
            404,
            "coupon_batch_not_found",
        )


class TestClaim:
    async def test_claim_gives_a_coupon_with_its_own_code(self, client):
        coupon = await create_coupon(per_customer_limit=2)
        user, _ = await customer()
        first = await claim(client, user, coupon)
        assert first.status_code == 201, first.text
        claimed = first.json()
        assert claimed["coupon_id"] == coupon.id and claimed["status"] == "unused"
        assert claimed["expires_at"]
        second = (await claim(client, user, coupon)).json()
        assert second["code"] != claimed["code"] and len(second["code"]) == 12

    async def test_more_than_the_per_customer_limit_is_409(self, client):
        coupon = await create_coupon(per_customer_limit=1)
        user, _ = await customer()
        await claimed_code(client, user, coupon)
        assert_problem(await claim(client, user, coupon), 409, "coupon_limit_reached")

    async def test_when_all_are_claimed_it_is_sold_out(self, client):
        coupon = await create_coupon(total_quantity=1)
        first, _ = await customer()
        second, _ = await customer()
        await claimed_code(client, first, coupon)
        assert_problem(await claim(client, second, coupon), 409, "coupon_sold_out")

    async def test_not_started_and_ended_are_409_with_a_reason(self, client):
        now = utcnow()
        later = await create_coupon(starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2))
        user, _ = await customer()
        assert (
            assert_problem(await claim(client, user, later), 409, "coupon_not_claimable")["reason"]
            == "not_started"
        )
        ended = await create_coupon()
        await expire(ended.id)
        assert (
            assert_problem(await claim(client, user, ended), 409, "coupon_not_claimable")["reason"] == "ended"
        )

    async def test_unknown_coupon_404_and_anonymous_401(self, client):
        user, _ = await customer()
        assert_problem(await claim(client, user, 999_999), 404, "coupon_batch_not_found")
        assert_problem(await client.post("/api/coupons/1/claim"), 401, "not_authenticated")


class TestLists:
    async def test_the_coupon_centre_lists_what_can_be_claimed_now(self, client):
        running = await create_coupon(name="进行中", total_quantity=3)
        await create_coupon(
            name="未开始", starts_at=utcnow() + timedelta(days=1), ends_at=utcnow() + timedelta(days=2)
        )
        gone = await create_coupon(name="已领完", total_quantity=1)
        user, _ = await customer()
        await claimed_code(client, user, gone)
        listed = (await client.get("/api/coupons")).json()
        assert [c["id"] for c in listed["items"]] == [running.id]
        assert listed["items"][0]["remaining"] == 3

    async def test_my_coupons_by_status(self, client):
        coupon = await create_coupon(per_customer_limit=3)
        old = await create_coupon()
        user = await create_user()
        await claimed_code(client, user, coupon)
        await claimed_code(client, user, old)
        await expire(old.id)
        mine = (await client.get("/api/users/me/coupons", headers=auth(user))).json()
        assert mine["total"] == 2
        unused = (await client.get("/api/users/me/coupons?status=unused", headers=auth(user))).json()
        assert [c["coupon_id"] for c in unused["items"]] == [coupon.id]
        assert unused["items"][0]["coupon"]["name"] == "新米尝鲜券"
        expired = (await client.get("/api/users/me/coupons?status=expired", headers=auth(user))).json()
        assert [(c["coupon_id"], c["status"]) for c in expired["items"]] == [(old.id, "expired")]
        assert (await client.get("/api/users/me/coupons?status=used", headers=auth(user))).json()[
            "total"
        ] == 0
        assert_problem(
            await client.get("/api/users/me/coupons?status=lost", headers=auth(user)), 422, "validation_error"
        )
