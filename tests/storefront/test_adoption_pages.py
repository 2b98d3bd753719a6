"""Adoption pages without a browser: the back office creates a plan with its form, the plan page tells the
plot's story, a customer adopts and, once paid, draws a delivery on the my-adoptions page; refusals show the
page again with the reason."""

from __future__ import annotations

from app.users.models import Role
from tests.adoptions.factories import adopted, create_plan, field, shares_left
from tests.orders.factories import customer
from tests.storefront.pages import csrf_from, log_in
from tests.traceability.factories import create_certificate
from tests.users.factories import create_user


class TestBackOffice:
    async def test_staff_create_a_plan_with_the_form(self, client):
        farm = await field()
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        page = await client.get("/admin/adoption-plans")
        assert page.status_code == 200 and "新建认养计划" in page.text
        form = {
            "plot_id": str(farm.plot.id),
            "name": "民乐乡一亩田",
            "season": "2026",
            "shares": "10",
            "share_price": "1980.00",
            "yield_kg_per_share": "50",
            "csrf_token": csrf_from(page.text),
        }
        bad = await client.post("/admin/adoption-plans", data={**form, "season": "明年"})
        assert bad.status_code == 422 and "请填写收获年份" in bad.text
        missing = await client.post("/admin/adoption-plans", data={**form, "plot_id": "999999"})
        assert missing.status_code == 404 and "地块不存在" in missing.text
        created = await client.post("/admin/adoption-plans", data=form)
        assert created.status_code == 303
        listing = await client.get("/admin/adoption-plans?done=created")
        assert "认养计划已创建" in listing.text and "¥1980.00 · 50 公斤" in listing.text

    async def test_customers_are_kept_out(self, client):
        user, _ = await customer()
        await log_in(client, user)
        assert (await client.get("/admin/adoption-plans")).status_code == 403


class TestShopPages:
    async def test_the_plan_page_tells_the_plot_story_and_a_sold_out_refusal_shows_again(self, client):
        farm = await field()
        await create_certificate(producer_id=farm.producer.id, number="GI-STORY-1")
        plan = await create_plan(farm.plot, shares=1)
        listing = await client.get("/adoption")
        assert listing.status_code == 200 and plan.name in listing.text
        page = await client.get(f"/adoption/{plan.id}")
        assert "地块故事" in page.text and farm.producer.name in page.text and "GI-STORY-1" in page.text
        assert "登录后认养" in page.text
        user, _ = await customer()
        await log_in(client, user)
        page = await client.get(f"/adoption/{plan.id}")
        form = {"shares": "2", "address_id": page.text.split('<option value="', 1)[1].split('"', 1)[0]}
        refused = await client.post(
            f"/adoption/{plan.id}/adopt", data={**form, "csrf_token": csrf_from(page.text)}
        )
        assert refused.status_code == 409 and "份数不足" in refused.text
        placed = await client.post(
            f"/adoption/{plan.id}/adopt", data={**form, "shares": "1", "csrf_token": csrf_from(page.text)}
        )
        assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/")
        assert await shares_left(plan.id) == 0

    async def test_my_adoptions_draw_a_delivery_and_a_refusal(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        await adopted(client, user, address, plan)
        await log_in(client, user)
        page = await client.get("/account/adoptions")
        assert "剩余 <strong>50 公斤</strong>" in page.text
        adoption_form = page.text.split('action="/account/adoptions/', 1)[1].split("/", 1)[0]
        token = csrf_from(page.text)
        too_much = await client.post(
            f"/account/adoptions/{adoption_form}/deliveries",
            data={"kg": "60", "address_id": str(address.id), "csrf_token": token},
        )
        assert too_much.status_code == 409 and "超出剩余可提的公斤数" in too_much.text
        done = await client.post(
            f"/account/adoptions/{adoption_form}/deliveries",
            data={"kg": "10", "address_id": str(address.id), "csrf_token": token},
        )
        assert done.status_code == 303
        after = await client.get("/account/adoptions?done=delivered")
        assert "提货申请已提交" in after.text and "剩余 <strong>40 公斤</strong>" in after.text
