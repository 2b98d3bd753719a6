"""`daoxiang seed-scale`: a shop of realistic size that the shop itself serves, added in bulk."""

from __future__ import annotations

from sqlalchemy import func, select

from app.catalog.models import Product, Sku
from app.db import session_scope
from app.orders.models import Order, OrderItem
from app.traceability import codes as trace_codes
from app.traceability.models import BatchAllocation, TraceCode
from tests.ops.servers import run_cli


async def count(model) -> int:
    async with session_scope() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


class TestSeedScale:
    async def test_adds_what_was_asked_with_progress_and_adds_again_on_a_second_run(self):
        result = run_cli("seed-scale", "--products", "30", "--orders", "80", "--codes", "500", "--seed", "1")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "added 30 products" in result.stdout and "80 orders" in result.stdout
        assert "orders: 80/80" in result.stderr and "trace codes: 500/500" in result.stderr
        assert (await count(Product), await count(Order), await count(TraceCode)) == (30, 80, 500)
        assert 60 <= await count(Sku) <= 90
        again = run_cli("seed-scale", "--products", "10", "--orders", "20", "--codes", "0")
        assert again.returncode == 0, again.stdout + again.stderr
        assert (await count(Product), await count(Order), await count(TraceCode)) == (40, 100, 500)

    async def test_orders_add_up_and_rise_with_time(self):
        from app.seed_scale import seed_scale

        await seed_scale(products=20, orders=150, codes=50, seed=2)
        async with session_scope() as session:
            orders = (await session.execute(select(Order).order_by(Order.id))).scalars().all()
            lines = (
                await session.execute(
                    select(OrderItem.order_id, func.sum(OrderItem.subtotal_fen)).group_by(OrderItem.order_id)
                )
            ).all()
            codes = (await session.execute(select(TraceCode.code))).scalars().all()
            allocated = await session.execute(select(func.count()).select_from(BatchAllocation))
        by_order = dict(lines)
        assert all(by_order[o.id] == o.subtotal_fen for o in orders)  # every order has lines that add up
        assert all(o.total_fen == o.subtotal_fen + o.shipping_fen - o.discount_fen for o in orders)
        assert [o.created_at for o in orders] == sorted(o.created_at for o in orders)
        assert len({o.status for o in orders}) >= 4 and len({o.order_no for o in orders}) == 150
        assert all(trace_codes.normalize(code) == code for code in codes)  # valid, scannable codes
        assert allocated.scalar_one() > 0  # shipped lines of batch products are on a recall list

    async def test_the_seeded_shop_is_served(self, client):
        from app.seed_scale import seed_scale

        await seed_scale(products=15, orders=10, codes=20, seed=3)
        listing = (await client.get("/api/products", params={"sort": "sales"})).json()
        assert listing["total"] >= 10 and listing["items"]
        detail = await client.get(f"/api/products/{listing['items'][0]['id']}")
        assert detail.status_code == 200 and detail.json()["skus"]
        async with session_scope() as session:
            code = (await session.execute(select(TraceCode.code).limit(1))).scalar_one()
        scan = await client.get(f"/api/trace/{code}")
        assert scan.status_code == 200, scan.text
