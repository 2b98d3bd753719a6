"""A year of orders, ids rising with time, in a realistic mix of statuses, with their lines, history and the
batches shipped lines came from."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from app.db import get_engine
from app.orders import stats as order_stats
from app.orders.models import Order, OrderHistory, OrderItem, OrderStatDelta, OrderStatus
from app.seed_scale.bulk import CHUNK, Progress, ScaleReport, ago, max_id
from app.seed_scale.words import CITIES, SURNAMES
from app.traceability.models import BatchAllocation

# Share of orders in each final status: most complete, some wait, a few are cancelled or refunded.
_STATUS_MIX = [
    (OrderStatus.completed, 62),
    (OrderStatus.shipped, 10),
    (OrderStatus.paid, 5),
    (OrderStatus.pending_payment, 2),
    (OrderStatus.cancelled, 17),
    (OrderStatus.refunding, 1),
    (OrderStatus.refunded, 3),
]
_SHIPPED = {OrderStatus.shipped, OrderStatus.completed}


async def seed_orders(
    rng: random.Random,
    now: datetime,
    count: int,
    sku_rows: Sequence[tuple[int, int, int, str, str]],
    user_ids: Sequence[int],
    batches: dict[int, int],
    progress: Progress,
    report: ScaleReport,
) -> None:
    statuses = [s for s, _ in _STATUS_MIX]
    weights = [w for _, w in _STATUS_MIX]
    # Orders arrive in time order, so ids rise with created_at as they do in the real shop.
    times = sorted(ago(rng, now - timedelta(minutes=1), 365) for _ in range(count))
    order_table, item_table = Order.__table__, OrderItem.__table__
    done = 0
    # Popular SKUs sell most: index by a Pareto draw into the list.
    n_skus = len(sku_rows)

    def pick_sku() -> tuple[int, int, int, str, str]:
        return sku_rows[min(n_skus - 1, int(rng.paretovariate(0.9)) - 1)]

    def pick_any() -> tuple[int, int, int, str, str]:
        return pick_sku() if rng.random() < 0.3 else sku_rows[rng.randrange(n_skus)]

    for start in range(0, count, CHUNK):
        stamps = times[start : start + CHUNK]
        orders: list[dict[str, Any]] = []
        lines: list[list[tuple[int, int, int, str, str, int]]] = []
        for created in stamps:
            status = rng.choices(statuses, weights)[0]
            picked = {row[0]: row for row in (pick_any() for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))}
            order_lines = [(*row, rng.randint(1, 3)) for row in picked.values()]
            subtotal = sum(price * qty for _, _, price, _, _, qty in order_lines)
            shipping = 0 if subtotal >= 9900 else 1000
            surname = rng.choice(SURNAMES)
            province, city, district = rng.choice(CITIES)
            phone = f"13{rng.randrange(10**9):09d}"
            paid = status not in (OrderStatus.pending_payment, OrderStatus.cancelled)
            shipped = status in _SHIPPED or status in (OrderStatus.refunding, OrderStatus.refunded)
            orders.append(
                {
                    "order_no": created.strftime("%Y%m%d") + f"{rng.randrange(10**12):012d}",
                    "user_id": rng.choice(user_ids),
                    "status": status.value,
                    "subtotal_fen": subtotal,
                    "shipping_fen": shipping,
                    "discount_fen": 0,
                    "total_fen": subtotal + shipping,
                    "note": "",
                    "address": {
                        "recipient": f"{surname}先生",
                        "phone": phone,
                        "province": province,
                        "city": city,
                        "district": district,
                        "detail": f"幸福路 {rng.randint(1, 999)} 号",
                    },
                    "recipient_phone": phone,
                    "pay_deadline": created + timedelta(minutes=30),
                    "paid_at": created + timedelta(minutes=3) if paid else None,
                    "paid_amount_fen": subtotal + shipping if paid else None,
                    "shipped_at": created + timedelta(days=1) if shipped else None,
                    "carrier": "顺丰速运" if shipped else None,
                    "tracking_no": f"SF{rng.randrange(10**12):012d}" if shipped else None,
                    "completed_at": created + timedelta(days=7) if status == OrderStatus.completed else None,
                    "cancelled_at": created + timedelta(minutes=30)
                    if status == OrderStatus.cancelled
                    else None,
                    "refunded_at": created + timedelta(days=3) if status == OrderStatus.refunded else None,
                    "stock_released_at": created + timedelta(minutes=30)
                    if status == OrderStatus.cancelled
                    else None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            lines.append(order_lines)
        async with get_engine().begin() as conn:
            before = await max_id(conn, order_table)
            await conn.execute(insert(order_table), orders)
            ids = list(
                (
                    await conn.execute(
                        select(order_table.c.id).where(order_table.c.id > before).order_by(order_table.c.id)
                    )
                )
                .scalars()
                .all()
            )
            items = [
                {
                    "order_id": order_id,
                    "sku_id": sku_id,
                    "product_id": product_id,
                    "name": f"{name} {sku_name}",
                    "sku_name": sku_name,
                    "quantity": qty,
                    "unit_price_fen": price,
                    "subtotal_fen": price * qty,
                }
                for order_id, order_lines in zip(ids, lines, strict=True)
                for sku_id, product_id, price, name, sku_name, qty in order_lines
            ]
            item_before = await max_id(conn, item_table)
            await conn.execute(insert(item_table), items)
            # The dashboard's figures, in the orders' transaction like every other write (app.orders.stats).
            placed = (
                row
                for o in orders
                for row in order_stats.placed(o["created_at"], o["status"], o["total_fen"])
            )
            await conn.execute(insert(OrderStatDelta.__table__), order_stats.summed(placed))
            await conn.execute(
                insert(OrderHistory.__table__),
                [
                    {
                        "order_id": order_id,
                        "from_status": None,
                        "to_status": order["status"],
                        "actor_role": "system",
                        "reason": "seed-scale",
                        "created_at": order["created_at"],
                    }
                    for order_id, order in zip(ids, orders, strict=True)
                ],
            )
            # Shipped lines of products with a batch are allocated to it (what a recall list reads).
            item_ids = (
                await conn.execute(
                    select(item_table.c.id).where(item_table.c.id > item_before).order_by(item_table.c.id)
                )
            ).scalars()
            allocations = [(int(item_id), item) for item_id, item in zip(item_ids.all(), items, strict=True)]
            shipped_orders = {
                order_id
                for order_id, order in zip(ids, orders, strict=True)
                if order["shipped_at"] is not None
            }
            rows = [
                {
                    "order_item_id": item_id,
                    "order_id": item["order_id"],
                    "batch_id": batches[item["product_id"]],
                    "quantity": item["quantity"],
                    "quantity_g": 0,
                    "chosen_by": "fefo",
                    "created_at": now,
                }
                for item_id, item in allocations
                if item["order_id"] in shipped_orders and item["product_id"] in batches
            ]
            if rows:
                await conn.execute(insert(BatchAllocation.__table__), rows)
        done += len(orders)
        report.orders += len(orders)
        report.order_items += len(items)
        progress("orders", done, count)
