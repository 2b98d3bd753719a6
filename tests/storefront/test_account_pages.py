from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.db import session_scope
from app.users.models import Address
from tests.storefront.pages import csrf_from, csrf_token, is_html, log_in
from tests.users.factories import create_address, create_user

ADDRESS = {
    "recipient": "张三",
    "phone": "13912345678",
    "province": "黑龙江省",
    "city": "哈尔滨市",
    "district": "五常市",
    "detail": "民乐乡 8 号",
}


async def addresses_of(user) -> list[Address]:
    async with session_scope() as session:
        rows = await session.execute(select(Address).where(Address.user_id == user.id).order_by(Address.id))
        return list(rows.scalars())


class TestAddressPages:
    async def test_anonymous_is_sent_to_login(self, client):
        response = await client.get("/account/addresses")
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")

    async def test_add_first_address_becomes_default(self, client):
        user = await create_user()
        await log_in(client, user)
        token = await csrf_token(client, "/account/addresses")
        response = await client.post("/account/addresses", data={**ADDRESS, "csrf_token": token})
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        assert "地址已保存" in page.text and "民乐乡 8 号" in page.text
        [address] = await addresses_of(user)
        assert address.is_default and address.recipient == "张三"

    async def test_add_from_checkout_goes_back_with_the_new_address(self, client):
        user = await create_user()
        await log_in(client, user)
        token = await csrf_token(client, "/account/addresses?next=/checkout")
        response = await client.post(
            "/account/addresses", data={**ADDRESS, "next": "/checkout", "csrf_token": token}
        )
        [address] = await addresses_of(user)
        assert response.headers["location"] == f"/checkout?address_id={address.id}"

    async def test_bad_phone_is_shown_and_nothing_saved(self, client):
        user = await create_user()
        await log_in(client, user)
        token = await csrf_token(client, "/account/addresses")
        response = await client.post(
            "/account/addresses", data={**ADDRESS, "phone": "123", "detail": "", "csrf_token": token}
        )
        assert response.status_code == 422 and is_html(response)
        assert "请输入 11 位中国大陆手机号" in response.text and "请填写详细地址" in response.text
        assert await addresses_of(user) == []

    async def test_edit_make_default_and_delete(self, client):
        user = await create_user()
        first = await create_address(user, is_default=True)
        second = await create_address(user, is_default=False, recipient="王五")
        await log_in(client, user)
        edit = await client.get(f"/account/addresses/{second.id}/edit")
        assert edit.status_code == 200 and "王五" in edit.text
        token = csrf_from(edit.text)
        response = await client.post(
            f"/account/addresses/{second.id}", data={**ADDRESS, "recipient": "王五五", "csrf_token": token}
        )
        assert response.status_code == 303
        await client.post(f"/account/addresses/{second.id}/default", data={"csrf_token": token})
        rows = {a.id: a for a in await addresses_of(user)}
        assert rows[second.id].recipient == "王五五" and rows[second.id].is_default
        assert not rows[first.id].is_default
        await client.post(f"/account/addresses/{second.id}/delete", data={"csrf_token": token})
        [left] = await addresses_of(user)
        assert left.id == first.id and left.is_default

    async def test_another_customers_address_is_404_and_unchanged(self, client):
        owner = await create_user()
        address = await create_address(owner)
        await log_in(client, await create_user())
        assert (await client.get(f"/account/addresses/{address.id}/edit")).status_code == 404
        token = await csrf_token(client, "/account/addresses")
        for path in (f"/account/addresses/{address.id}/delete", f"/account/addresses/{address.id}"):
            response = await client.post(path, data={**ADDRESS, "recipient": "黑客", "csrf_token": token})
            assert response.status_code == 404 and "页面不存在" in response.text
        [kept] = await addresses_of(owner)
        assert kept.recipient == "李四"
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(Address))).scalar_one() == 1


class TestProvinceOnTheAddressPages:
    async def test_the_province_is_chosen_from_the_34_divisions(self, client):
        user = await create_user()
        await log_in(client, user)
        page = await client.get("/account/addresses")
        assert '<select id="addr-province" name="province"' in page.text
        assert page.text.count("<option value=") == 35  # the prompt and the 34 divisions
        assert (
            '<option value="新疆维吾尔自治区">' in page.text
            and '<option value="澳门特别行政区">' in page.text
        )
        token = csrf_from(page.text)
        # A hand-made form with another spelling is stored by the canonical name.
        response = await client.post(
            "/account/addresses", data={**ADDRESS, "province": "\u200b新疆", "csrf_token": token}
        )
        assert response.status_code == 303
        [address] = await addresses_of(user)
        assert address.province == "新疆维吾尔自治区"
        edit = await client.get(f"/account/addresses/{address.id}/edit")
        assert '<option value="新疆维吾尔自治区" selected>' in edit.text

    @pytest.mark.parametrize(("province", "message"), [("", "请选择省份"), ("火星", "请从列表中选择省份")])
    async def test_a_province_not_from_the_list_is_refused_and_nothing_saved(self, client, province, message):
        user = await create_user()
        await log_in(client, user)
        token = await csrf_token(client, "/account/addresses")
        response = await client.post(
            "/account/addresses", data={**ADDRESS, "province": province, "csrf_token": token}
        )
        assert response.status_code == 422 and message in response.text
        assert 'aria-describedby="addr-province-error"' in response.text
        assert await addresses_of(user) == []

    async def test_an_address_needing_correction_is_flagged_until_its_province_is_chosen(self, client):
        user = await create_user()
        address = await create_address(user, province="火星", needs_correction=True)
        await log_in(client, user)
        listed = await client.get("/account/addresses")
        assert "省份“火星”无法识别" in listed.text
        edit = await client.get(f"/account/addresses/{address.id}/edit")
        assert "无法识别原来填写的省份，请从列表中重新选择" in edit.text
        assert '<option value="" selected>请选择省份</option>' in edit.text
        response = await client.post(
            f"/account/addresses/{address.id}",
            data={**ADDRESS, "province": "西藏自治区", "csrf_token": csrf_from(edit.text)},
        )
        assert response.status_code == 303
        [fixed] = await addresses_of(user)
        assert (fixed.province, fixed.needs_correction) == ("西藏自治区", False)
        assert "无法识别" not in (await client.get("/account/addresses")).text

    async def test_past_the_address_cap_the_page_says_so_and_saves_nothing(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "max_addresses_per_customer", 2)
        user = await create_user()
        await create_address(user)
        await create_address(user, is_default=False)
        await log_in(client, user)
        token = await csrf_token(client, "/account/addresses")
        response = await client.post("/account/addresses", data={**ADDRESS, "csrf_token": token})
        assert response.status_code == 409 and "最多保存 2 个收货地址" in response.text
        assert len(await addresses_of(user)) == 2
