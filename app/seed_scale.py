"""`daoxiang seed-scale`: a shop of realistic size, generated in bulk, for measuring the shop as it grows.

Rows go in with multi-row INSERTs of `CHUNK` rows (the ORM is bypassed: a million ORM objects would take
hours), each chunk in its own transaction, so progress is visible and a stopped run keeps what it wrote.
Each run adds to what is there: running it twice doubles the shop. The data is shaped like a year of a
busy rice shop: most products published, a few popular products selling most (so a batch's recall list
is long), orders spread over the last year with ids rising with time, a few flagged and revoked codes,
some SKUs low on stock and some certificates about to expire.

`rebuild_statistics` runs at the end (ANALYZE TABLE on MariaDB) so the optimiser sees the new sizes.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.catalog import search
from app.catalog.models import Category, Product, ProductStatus, Sku
from app.db import get_engine, session_scope
from app.orders import stats as order_stats
from app.orders.models import Order, OrderHistory, OrderItem, OrderStatDelta, OrderStatus
from app.traceability import codes as trace_codes
from app.traceability.models import Batch as BatchRow
from app.traceability.models import BatchAllocation, Certificate, Producer, TraceCode
from app.users.models import User

CHUNK = 2000
Progress = Callable[[str, int, int], None]

_VARIETIES = ["稻花香2号", "五优稻4号", "松粳22", "长粒香", "圆粒香", "龙洋16", "中龙稻18"]
_TOWNS = ["民乐乡", "龙凤山镇", "卫国乡", "安家镇", "牛家满族镇", "杜家镇", "红旗乡", "沙河子镇"]
_GRADES = ["一级", "特级", "优质", "有机", "绿色"]
_PACKS = [("2.5kg 真空包装", 2500, 4990), ("5kg 真空包装", 5000, 8990), ("10kg 布袋", 10000, 16990)]
_WORDS = ["新米", "当季", "现磨", "珍品", "礼盒", "家庭装", "胚芽米", "寒地黑土"]
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_CITIES = [
    ("黑龙江省", "哈尔滨市", "五常市"),
    ("北京市", "北京市", "朝阳区"),
    ("上海市", "上海市", "浦东新区"),
]
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


@dataclass
class ScaleReport:
    products: int = 0
    skus: int = 0
    users: int = 0
    orders: int = 0
    order_items: int = 0
    codes: int = 0
    seconds: float = 0.0


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _max_id(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one())


async def _bulk(
    table: Table, rows: Iterator[dict[str, Any]], total: int, label: str, progress: Progress
) -> list[int]:
    """Insert `rows` chunk by chunk; the new ids in insertion order."""
    ids: list[int] = []
    done = 0
    engine = get_engine()
    for chunk in _chunks(rows):
        async with engine.begin() as conn:
            before = await _max_id(conn, table)
            await conn.execute(insert(table), chunk)
            new = await conn.execute(select(table.c.id).where(table.c.id > before).order_by(table.c.id))
            ids.extend(int(i) for i in new.scalars().all())
        done += len(chunk)
        progress(label, done, total)
    return ids


def _ago(rng: random.Random, now: datetime, days: float) -> datetime:
    return now - timedelta(seconds=rng.uniform(0, days * 86400))


async def _ensure_categories(conn: AsyncConnection) -> list[int]:
    table = Category.__table__
    ids = list((await conn.execute(select(table.c.id))).scalars().all())
    if not ids:
        await conn.execute(insert(table), [{"name": n, "sort_order": i} for i, n in enumerate(_VARIETIES)])
        ids = list((await conn.execute(select(table.c.id))).scalars().all())
    return [int(i) for i in ids]


async def seed_scale(
    *, products: int, orders: int, codes: int, seed: int | None = None, progress: Progress | None = None
) -> ScaleReport:
    rng = random.Random(seed)
    progress = progress or (lambda label, done, total: None)
    report = ScaleReport()
    started = time.perf_counter()
    now = datetime.now(UTC)
    run = secrets.token_hex(3)  # keeps names, phones and batch numbers of separate runs apart

    async with get_engine().begin() as conn:
        category_ids = await _ensure_categories(conn)
        user_base = int((await conn.execute(select(func.count()).select_from(User.__table__))).scalar_one())

    product_ids, sku_rows = await _seed_products(rng, now, products, category_ids, run, progress)
    report.products, report.skus = len(product_ids), len(sku_rows)

    customers = max(1, min(orders // 8, 200_000)) if orders else 0
    user_ids = await _seed_users(rng, now, customers, user_base, progress)
    report.users = len(user_ids)

    batches = await _seed_traceability(rng, now, product_ids, codes, run, progress, report)

    if orders and sku_rows and user_ids:
        await _seed_orders(rng, now, orders, sku_rows, user_ids, batches, progress, report)
        async with session_scope() as session:
            await order_stats.fold(session, limit=10**9)

    await rebuild_statistics()
    report.seconds = time.perf_counter() - started
    return report


async def _seed_products(
    rng: random.Random,
    now: datetime,
    count: int,
    category_ids: Sequence[int],
    run: str,
    progress: Progress,
) -> tuple[list[int], list[tuple[int, int, int, str, str]]]:
    """Products and their 2-3 SKUs; returns product ids and (sku id, product id, price, name, sku name)."""
    if count <= 0:
        return [], []
    specs: list[dict[str, Any]] = []

    def products() -> Iterator[dict[str, Any]]:
        for i in range(count):
            variety = rng.choice(_VARIETIES)
            town = rng.choice(_TOWNS)
            grade = rng.choice(_GRADES)
            name = f"五常大米 {variety} {rng.choice(_WORDS)} {run}{i}"
            subtitle = f"{town}{grade}{variety}，当季新米"
            description = f"产自五常市{town}，{variety}，{grade}。寒地黑土一季稻，现磨现发。"
            packs = rng.sample(_PACKS, rng.choice((2, 2, 3)))
            markup = rng.randint(-500, 3000)
            specs.append({"packs": packs, "markup": markup})
            created = _ago(rng, now, 365)
            published = rng.random() < 0.9
            yield {
                "category_id": rng.choice(category_ids),
                "name": name,
                "subtitle": subtitle,
                "description": description,
                "origin": f"黑龙江五常{town}",
                "variety": variety,
                "grade": grade,
                "harvest_year": now.year - rng.choice((0, 0, 1)),
                "status": ProductStatus.published.value if published else ProductStatus.draft.value,
                # A long tail: most products sell little, a few sell a lot.
                "sales_count": int(rng.paretovariate(1.2) * 10) - 10,
                "sort_weight": rng.choice((0, 0, 0, 0, 10, 50, 100)),
                "min_price_fen": min(p for _, _, p in packs) + markup,
                "published_at": created if published else None,
                "search_name": search.search_field(name),
                "search_subtitle": search.search_field(subtitle, variety, f"黑龙江五常{town}", grade),
                "search_body": search.search_field(description, with_pinyin=False),
                "created_at": created,
                "updated_at": created,
            }

    product_ids = await _bulk(Product.__table__, products(), count, "products", progress)

    def skus() -> Iterator[dict[str, Any]]:
        for product_id, spec in zip(product_ids, specs, strict=True):
            for position, (sku_name, weight, price) in enumerate(spec["packs"]):
                yield {
                    "product_id": product_id,
                    "name": sku_name,
                    "price_fen": price + spec["markup"],
                    "stock": rng.choice((0, 3, 8)) if rng.random() < 0.03 else rng.randint(20, 2000),
                    "weight_g": weight,
                    "is_active": True,
                    "sort_order": position,
                    "created_at": now,
                    "updated_at": now,
                }

    sku_total = sum(len(s["packs"]) for s in specs)
    sku_ids = await _bulk(Sku.__table__, skus(), sku_total, "skus", progress)
    rows: list[tuple[int, int, int, str, str]] = []
    it = iter(sku_ids)
    for product_id, spec in zip(product_ids, specs, strict=True):
        for sku_name, _, price in spec["packs"]:
            rows.append((next(it), product_id, price + spec["markup"], f"五常大米 {product_id}", sku_name))
    return product_ids, rows


async def _seed_users(
    rng: random.Random, now: datetime, count: int, base: int, progress: Progress
) -> list[int]:
    if count <= 0:
        return []
    # Nobody logs in as these customers: one unusable hash for all (hashing a million passwords takes days).
    unusable = "!seed-scale"

    def users() -> Iterator[dict[str, Any]]:
        for i in range(count):
            created = _ago(rng, now, 400)
            yield {
                # 19x numbers from a run-independent counter: unique across runs, valid mainland mobiles.
                "phone": f"19{(base + i) % 10**9:09d}",
                "password_hash": unusable,
                "nickname": f"{rng.choice(_SURNAMES)}{'先生' if i % 2 else '女士'}",
                "role": "customer",
                "is_active": True,
                "token_version": 0,
                "created_at": created,
                "updated_at": created,
            }

    return await _bulk(User.__table__, users(), count, "users", progress)


async def _seed_traceability(
    rng: random.Random,
    now: datetime,
    product_ids: Sequence[int],
    codes: int,
    run: str,
    progress: Progress,
    report: ScaleReport,
) -> dict[int, int]:
    """Producers, a batch for about one product in twenty (the popular ones first), certificates (a few
    expiring within 30 days) and `codes` trace codes spread over the batches. Returns product id -> batch id."""
    if not product_ids:
        return {}
    engine = get_engine()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Producer.__table__),
            [
                {
                    "name": f"五常{town}合作社 {run}",
                    "region": f"黑龙江五常{town}",
                    "license_no": f"93230184MA{run}{i:02d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, town in enumerate(_TOWNS)
            ],
        )
        producer_ids = list(
            (
                await conn.execute(
                    select(Producer.__table__.c.id).where(Producer.__table__.c.name.like(f"%{run}"))
                )
            )
            .scalars()
            .all()
        )
    with_batch = product_ids[: max(1, len(product_ids) // 20)]

    def batches() -> Iterator[dict[str, Any]]:
        for i, product_id in enumerate(with_batch):
            harvested = (now - timedelta(days=rng.randint(30, 330))).date()
            yield {
                "batch_no": f"WC{run}{i:07d}",
                "product_id": product_id,
                "producer_id": rng.choice(producer_ids),
                "variety": rng.choice(_VARIETIES),
                "harvested_on": harvested,
                "milled_on": harvested + timedelta(days=20),
                "best_before_on": harvested + timedelta(days=365),
                "quantity_kg": 100_000,
                "quantity_left_g": 100_000_000,
                "created_at": now,
                "updated_at": now,
            }

    batch_ids = await _bulk(BatchRow.__table__, batches(), len(with_batch), "batches", progress)
    by_product = dict(zip(with_batch, batch_ids, strict=True))

    def certificates() -> Iterator[dict[str, Any]]:
        for i, batch_id in enumerate(batch_ids):
            valid_from = (now - timedelta(days=rng.randint(30, 700))).date()
            until = now.date() + timedelta(days=rng.randint(1, 29) if i % 25 == 0 else rng.randint(60, 700))
            yield {
                "kind": "green_food" if i % 2 else "organic",
                "number": f"LB-{run}-{i:07d}",
                "issuer": "中国绿色食品发展中心",
                "valid_from": valid_from,
                "valid_until": until,
                "batch_id": batch_id,
                "created_at": now,
                "updated_at": now,
            }

    await _bulk(Certificate.__table__, certificates(), len(batch_ids), "certificates", progress)

    def trace_rows() -> Iterator[dict[str, Any]]:
        for i in range(codes):
            scanned = rng.random() < 0.2
            flagged = scanned and rng.random() < 0.005
            first = _ago(rng, now, 300) if scanned else None
            yield {
                "code": trace_codes.new_code(),
                "batch_id": batch_ids[i % len(batch_ids)],
                "scan_count": rng.randint(1, 4) + (30 if flagged else 0) if scanned else 0,
                "scanner_count": (12 if flagged else 1) if scanned else 0,
                "first_scanned_at": first,
                "last_scanned_at": first,
                "flagged_at": first if flagged else None,
                "revoked_at": now if i % 5000 == 4999 else None,
                "revoked_reason": "破损召回" if i % 5000 == 4999 else "",
                "created_at": now,
            }

    if codes > 0:
        await _bulk_no_ids(TraceCode.__table__, trace_rows(), codes, "trace codes", progress)
        report.codes = codes
    return by_product


async def _bulk_no_ids(
    table: Table, rows: Iterator[dict[str, Any]], total: int, label: str, progress: Progress
):
    done = 0
    for chunk in _chunks(rows, CHUNK * 2):
        async with get_engine().begin() as conn:
            await conn.execute(insert(table), chunk)
        done += len(chunk)
        progress(label, done, total)


async def _seed_orders(
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
    times = sorted(_ago(rng, now - timedelta(minutes=1), 365) for _ in range(count))
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
            surname = rng.choice(_SURNAMES)
            province, city, district = rng.choice(_CITIES)
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
            before = await _max_id(conn, order_table)
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
            item_before = await _max_id(conn, item_table)
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


_ANALYZED = [
    "products",
    "skus",
    "users",
    "orders",
    "order_items",
    "order_history",
    "trace_codes",
    "batch_allocations",
    "batches",
    "certificates",
]


async def rebuild_statistics() -> None:
    """Fresh index statistics after a bulk load, so the optimiser plans for the table's real size."""
    engine = get_engine()
    if engine.dialect.name != "mysql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        return
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE TABLE " + ", ".join(_ANALYZED)))
