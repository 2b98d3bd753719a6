"""Addresses saved before provinces were checked: the migration rewrites each province to its canonical name,
and keeps and marks the ones that name no division; a marked address is refused at checkout until its
province is chosen again."""

from __future__ import annotations

import anyio
import pytest
from alembic import command
from sqlalchemy import text

from app.cli import alembic_config
from app.db import get_engine, session_scope, utcnow
from app.users.models import Address
from tests.orders.factories import count_orders, place, sku_on_sale, stock_of
from tests.problems import assert_problem
from tests.users.factories import auth, create_address, create_user

# As typed before the check (with what the migration must make of it; None: kept and marked).
LEGACY = [
    ("新疆", "新疆维吾尔自治区"),
    ("\u200b新疆维吾尔自治区", "新疆维吾尔自治区"),
    ("中国西藏", "西藏自治区"),
    ("內蒙古", "内蒙古自治区"),
    ("Qinghai", "青海省"),
    ("黑龙江省", "黑龙江省"),
    ("北京", "北京市"),
    ("广西壮族自治区", "广西壮族自治区"),
    ("火星", None),
    ("五常市", None),
    ("新疆乌鲁木齐", None),
]


async def _stored(address_id: int) -> Address:
    async with session_scope() as session:
        return await session.get(Address, address_id, populate_existing=True)


class TestMigration:
    async def test_provinces_are_rewritten_to_canonical_names_or_marked(self):
        user = await create_user()  # made with today's schema; the addresses as they were before the check
        config = alembic_config()
        await anyio.to_thread.run_sync(command.downgrade, config, "address_provinces-1")
        now = utcnow().replace(tzinfo=None)
        async with get_engine().begin() as conn:
            for i, (typed, _) in enumerate(LEGACY, start=1):
                await conn.execute(
                    text(
                        "INSERT INTO addresses (id, user_id, recipient, phone, province, city, district, detail,"
                        " is_default, created_at, updated_at) VALUES (:id, :user_id, '李四', '13912345678',"
                        " :province, '某市', '某区', '某路 1 号', :is_default, :now, :now)"
                    ),
                    {"id": i, "user_id": user.id, "province": typed, "is_default": i == 1, "now": now},
                )

        await anyio.to_thread.run_sync(command.upgrade, config, "head")

        for i, (typed, expected) in enumerate(LEGACY, start=1):
            address = await _stored(i)
            assert (address.province, address.needs_correction) == (expected or typed, expected is None), (
                typed
            )


class TestAddressNeedingCorrection:
    async def test_is_listed_as_such_refused_at_checkout_and_usable_once_corrected(self, client):
        user = await create_user()
        address = await create_address(user, province="火星", needs_correction=True)
        sku = await sku_on_sale(price_fen=5990, stock=5)

        listed = (await client.get("/api/users/me/addresses", headers=auth(user))).json()
        assert [(a["province"], a["needs_correction"]) for a in listed] == [("火星", True)]
        refused = await place(client, user, address, [(sku.id, 1)])
        body = assert_problem(refused, 409, "address_needs_correction")
        assert body["address_id"] == address.id
        assert (await count_orders(), await stock_of(sku.id)) == (0, 5)

        # Changing something else leaves it marked; choosing the province clears the mark.
        other = await client.patch(
            f"/api/users/me/addresses/{address.id}", json={"detail": "新地址 2 号"}, headers=auth(user)
        )
        assert other.json()["needs_correction"] is True
        fixed = await client.patch(
            f"/api/users/me/addresses/{address.id}", json={"province": "新疆"}, headers=auth(user)
        )
        assert (fixed.json()["province"], fixed.json()["needs_correction"]) == ("新疆维吾尔自治区", False)
        placed = await place(client, user, address, [(sku.id, 1)])
        assert placed.status_code == 201, placed.text
        assert placed.json()["shipping_fen"] == 2500

    @pytest.mark.parametrize("province", ["黑龙江省", "新疆维吾尔自治区"])
    async def test_a_marked_address_is_refused_even_when_its_text_looks_like_a_province(
        self, client, province
    ):
        user = await create_user()
        address = await create_address(user, province=province, needs_correction=True)
        sku = await sku_on_sale(stock=5)
        assert_problem(await place(client, user, address, [(sku.id, 1)]), 409, "address_needs_correction")
