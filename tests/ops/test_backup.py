"""`daoxiang backup` / `daoxiang restore`: a shop with orders in every state, payments, traces, events and
media files is backed up (quietly, and under a checkout load), restored into a fresh database, and every
table's rows and money columns compared; a restore into a database that is not empty is refused."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import column, create_engine, inspect, select, table
from sqlalchemy.engine import Engine, make_url

from app.cli.backup import _sync_url
from app.config import get_settings
from app.worker import run_job
from tests.conftest import IS_MYSQL
from tests.ops.servers import run_cli
from tests.orders.factories import (
    customer,
    paid_order,
    pending_order,
    place,
    shipped_order,
    sku_on_sale,
    staff,
)
from tests.payments import factories as pay_factories
from tests.traceability import factories as trace_factories
from tests.users.factories import auth

RESTORE_DB = "daoxiang_ops_restore"


@pytest.fixture
def target(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh, empty shop to restore into: its database and media directories."""
    settings = get_settings()
    if IS_MYSQL:
        url = make_url(settings.database_url).set(drivername="mysql+pymysql")
        server = create_engine(url.set(database=""))
        with server.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {RESTORE_DB}")
            conn.exec_driver_sql(
                f"CREATE DATABASE {RESTORE_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        server.dispose()
        database_url = url.set(database=RESTORE_DB).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
    return {
        "DATABASE_URL": database_url,
        "MEDIA_DIR": str(tmp_path / "restored-media"),
        "PRIVATE_MEDIA_DIR": str(tmp_path / "restored-private"),
    }


def _engine(database_url: str) -> Engine:
    return create_engine(_sync_url(database_url))


def snapshot(database_url: str) -> dict[str, tuple[int, str]]:
    """Every table: (rows, checksum of its money columns — every `*_fen` value, by primary key)."""
    engine = _engine(database_url)
    found = {}
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            for name in inspector.get_table_names():
                if name == "product_search":
                    continue  # derived (Mroonga), rebuilt by restore; compared by its row count below
                columns = [c["name"] for c in inspector.get_columns(name)]
                keys = inspector.get_pk_constraint(name)["constrained_columns"] or columns
                money = [c for c in columns if c.endswith("_fen")]
                t = table(name, *(column(c) for c in columns))
                rows = conn.execute(
                    select(*(t.c[c] for c in keys + money)).order_by(*(t.c[c] for c in keys))
                ).all()
                found[name] = (len(rows), hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest())
    finally:
        engine.dispose()
    return found


def media_files(*roots: Path) -> dict[str, bytes]:
    return {
        f"{i}/{p.relative_to(root).as_posix()}": p.read_bytes()
        for i, root in enumerate(roots)
        if root.is_dir()
        for p in root.rglob("*")
        if p.is_file()
    }


async def fill_shop(client) -> dict[str, int]:
    """Orders in every state, payments and gateway notices, a refund, trace codes scanned, events, media."""
    sku = await sku_on_sale(stock=500)
    user, address = await customer()
    await pending_order(client, user, address, sku)
    await paid_order(client, user, address, sku)
    shipped = await shipped_order(client, user, address, sku)
    completed = await shipped_order(client, user, address, sku)
    done = await client.post(f"/api/orders/{completed['id']}/confirm-receipt", headers=auth(user))
    assert done.status_code == 200, done.text
    cancelled = await pending_order(client, user, address, sku, qty=2)
    assert (await client.post(f"/api/orders/{cancelled['id']}/cancel", headers=auth(user))).status_code == 200
    # paid through the sandbox gateway (payment, notices), then refunded
    buyer, _sku, order = await pay_factories.order_to_pay(client)
    payment = await pay_factories.start_payment(client, buyer, order["id"])
    assert (
        await pay_factories.sandbox_notify(client, pay_factories.sandbox_body(payment, order))
    ).status_code == 200
    asked = await client.post(
        f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(buyer)
    )
    assert asked.status_code == 200, asked.text
    refunded = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
    assert refunded.json()["status"] in ("refunding", "refunded"), refunded.text
    # traceability: a batch with its story, codes, scans
    batch = await trace_factories.create_batch()
    await trace_factories.create_event(batch)
    await trace_factories.create_certificate(batch_id=batch.id)
    codes = await trace_factories.create_codes(batch, 5)
    for code in codes[:3]:
        assert (await client.get(f"/api/trace/{code}")).status_code == 200
    await run_job("traceability.flush_scans")  # with Redis, scans are counted there and written by this job
    settings = get_settings()
    for root, name in (
        (settings.media_dir, "products/backup-test/cover.jpg"),
        (settings.private_files_dir, "certs/scan.pdf"),
    ):
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hashlib.sha256(name.encode()).digest() * 100)
    statuses = {"shipped": shipped["id"]}
    return statuses


def _source_url() -> str:
    return get_settings().database_url


def _source_media() -> dict[str, bytes]:
    settings = get_settings()
    return media_files(Path(settings.media_dir), Path(settings.private_files_dir))


def _restored_media(target: dict[str, str]) -> dict[str, bytes]:
    return media_files(Path(target["MEDIA_DIR"]), Path(target["PRIVATE_MEDIA_DIR"]))


class TestBackupAndRestore:
    async def test_a_quiet_shop_comes_back_row_for_row(self, client, tmp_path, target):
        await fill_shop(client)
        before, media = snapshot(_source_url()), _source_media()
        statuses = {row[0] for row in _rows(_source_url(), "SELECT DISTINCT status FROM orders")}
        assert statuses >= {"pending_payment", "paid", "shipped", "completed", "cancelled"}
        assert statuses & {"refunding", "refunded"}

        archive = tmp_path / "shop.tar.gz"
        done = run_cli("backup", str(archive))
        assert done.returncode == 0, done.stdout + done.stderr
        restored = run_cli("restore", str(archive), **target)
        assert restored.returncode == 0, restored.stdout + restored.stderr

        after = snapshot(target["DATABASE_URL"])
        assert after == before
        assert {n for n, (rows, _) in after.items() if rows} >= {
            "orders",
            "order_items",
            "order_history",
            "payments",
            "payment_notifications",
            "payment_refunds",
            "outbox_events",
            "trace_codes",
            "trace_scans",
            "batches",
            "batch_events",
            "certificates",
            "users",
        }
        assert _restored_media(target) == media
        if IS_MYSQL:  # the full-text index is rebuilt from the products
            assert _rows(target["DATABASE_URL"], "SELECT COUNT(*) FROM product_search") == _rows(
                _source_url(), "SELECT COUNT(*) FROM product_search"
            )

    async def test_a_backup_under_checkout_load_is_one_consistent_moment(
        self, client, tmp_path, target, many_unpaid_orders
    ):
        await fill_shop(client)
        stock = 10_000
        sku = await sku_on_sale(stock=stock)
        buyers = [await customer() for _ in range(4)]
        quiet = snapshot(_source_url())
        archive = tmp_path / "busy.tar.gz"
        backup = asyncio.create_task(asyncio.to_thread(run_cli, "backup", str(archive)))
        placed_during = 0

        async def buy(user, address) -> None:
            nonlocal placed_during
            while not backup.done():
                response = await place(client, user, address, [(sku.id, 1)])
                assert response.status_code == 201, response.text
                placed_during += 1

        await asyncio.gather(*(buy(u, a) for u, a in buyers))
        done = await backup
        assert done.returncode == 0, done.stdout + done.stderr
        assert placed_during >= 4, "the load must have run while the backup did"
        print(f"\nbackup under load: {placed_during} orders placed while it ran; {done.stdout.strip()}")
        busy = snapshot(_source_url())
        restored_run = run_cli("restore", str(archive), **target)
        assert restored_run.returncode == 0, restored_run.stdout + restored_run.stderr
        restored = snapshot(target["DATABASE_URL"])

        assert restored.keys() == busy.keys()
        for name in busy:
            if busy[name] == quiet[name]:  # a table the checkouts did not touch: exactly as it was
                assert restored[name] == quiet[name], name
            else:  # somewhere between the shop before and after the load
                assert quiet[name][0] <= restored[name][0] <= busy[name][0], name
        # One moment, not a torn copy: the SKU's stock and the orders for it add up, every order has its
        # lines and its order.created event, and the stock moved by exactly the units ordered.
        restored_url = target["DATABASE_URL"]
        [(left,)] = _rows(restored_url, f"SELECT stock FROM skus WHERE id = {sku.id}")
        [(ordered,)] = _rows(
            restored_url, f"SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE sku_id = {sku.id}"
        )
        assert left + ordered == stock
        [(orders,)] = _rows(restored_url, "SELECT COUNT(*) FROM orders")
        [(created,)] = _rows(restored_url, "SELECT COUNT(*) FROM outbox_events WHERE type = 'order.created'")
        [(lineless,)] = _rows(
            restored_url,
            "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
        )
        assert orders == created and lineless == 0
        [(money,)] = _rows(
            restored_url,
            "SELECT COUNT(*) FROM orders WHERE total_fen != subtotal_fen + shipping_fen - discount_fen",
        )
        assert money == 0


class TestRestoreRefuses:
    async def test_a_database_that_is_not_empty(self, client, tmp_path):
        await fill_shop(client)
        archive = tmp_path / "shop.tar.gz"
        assert run_cli("backup", str(archive)).returncode == 0
        before = snapshot(_source_url())
        refused = run_cli("restore", str(archive))
        assert refused.returncode == 1
        assert "not empty" in refused.stderr and "restore only into an empty database" in refused.stderr
        assert snapshot(_source_url()) == before

    async def test_a_file_that_is_not_a_backup(self, tmp_path, target):
        junk = tmp_path / "junk.tar.gz"
        junk.write_bytes(b"not an archive")
        refused = run_cli("restore", str(junk), **target)
        assert refused.returncode == 1 and "not a backup archive" in refused.stderr
        refused = run_cli("restore", str(tmp_path / "missing.tar.gz"), **target)
        assert refused.returncode == 1 and "no such file" in refused.stderr
        assert not inspect_tables(target["DATABASE_URL"])


def inspect_tables(database_url: str) -> list[str]:
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


def _rows(database_url: str, sql: str) -> list[tuple]:
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql).all()]
    finally:
        engine.dispose()
