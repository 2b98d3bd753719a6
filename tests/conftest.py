"""Test set-up: a real database built once per run with `alembic upgrade head`, emptied after every test,
and (when TEST_REDIS_URL is set) a real Redis database flushed after every test.

    ./test.sh                                   SQLite file, no Redis
    TEST_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_test \
    TEST_REDIS_URL=redis://127.0.0.1:6379/15 ./test.sh     MariaDB + Redis
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_tmp = Path(tempfile.mkdtemp(prefix="daoxiang-test-"))
os.environ["APP_ENV"] = "test"
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_tmp / 'test.db'}"
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "")
os.environ["MEDIA_DIR"] = str(_tmp / "media")
os.environ["VAR_DIR"] = str(_tmp)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("PUBLIC_BASE_URL", "http://testserver")

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app.catalog import search_index  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.db import Base, dispose_engine, get_engine, set_clock_offset, utcnow  # noqa: E402
from app.redis import close_redis, get_redis  # noqa: E402
from tests.event_validation import EventCollector  # noqa: E402

settings = get_settings()
IS_MYSQL = settings.database_url.startswith("mysql")
HAS_REDIS = bool(settings.redis_url)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"database: {settings.database_url.split('@')[-1]}", f"redis: {settings.redis_url or 'disabled'}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_mysql = pytest.mark.skip(reason="needs MariaDB/MySQL: set TEST_DATABASE_URL")
    for item in items:
        if "mysql_only" in item.keywords and not IS_MYSQL:
            item.add_marker(skip_mysql)


async def _drop_everything() -> None:
    engine = get_engine()
    async with engine.begin() as conn:
        if IS_MYSQL:
            await conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            rows = await conn.execute(text("SHOW TABLES"))
            for (name,) in rows.all():
                await conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            await conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[None]:
    from alembic import command

    from app.cli import alembic_config

    await _drop_everything()
    await dispose_engine()
    # Alembic's env runs its own event loop; run it in a thread so it does not collide with ours.
    import anyio

    await anyio.to_thread.run_sync(command.upgrade, alembic_config(), "head")
    yield
    await close_redis()
    await dispose_engine()


async def truncate_all() -> None:
    engine = get_engine()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.connect() as conn:
        # Self-referencing tables (category trees) cannot be emptied row by row with their keys checked.
        # (SQLite takes the pragma only outside a transaction: the driver begins at the first DELETE.)
        await conn.execute(text("SET FOREIGN_KEY_CHECKS=0" if IS_MYSQL else "PRAGMA foreign_keys=OFF"))
        for name in tables:
            await conn.execute(text(f"DELETE FROM {name}"))
        await conn.commit()
        if IS_MYSQL:  # Mroonga's table is no ORM model (SQLite's FTS follows by trigger)
            await search_index.clear(conn)
        await conn.execute(text("SET FOREIGN_KEY_CHECKS=1" if IS_MYSQL else "PRAGMA foreign_keys=ON"))


@pytest.fixture(scope="session", autouse=True)
def event_collector() -> Iterator[EventCollector]:
    """Collects every event written during the run; each is validated against docs/event-schemas."""
    collector = EventCollector()
    collector.install()
    yield collector
    collector.uninstall()
    problems = collector.check()
    if problems:
        pytest.fail("invalid domain events:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
async def _isolate(database: None, event_collector: EventCollector) -> AsyncIterator[None]:
    yield
    try:
        async with get_engine().connect() as conn:
            await event_collector.read_outbox(conn)
    except Exception:  # the test dropped the tables (migrations): the listener saw its events anyway
        pass
    problems = event_collector.check()
    await truncate_all()
    from app.catalog import cache

    cache.clear_local()  # this process's page cache: the next test starts cold, like Redis below
    from app.users import revocation

    revocation.clear_local()  # cached auth states: ids are reused once the tables are emptied
    client = get_redis()
    if client is not None:
        await client.flushdb()
    if problems:
        pytest.fail(
            "this test wrote events that do not match docs/event-schemas:\n" + "\n".join(problems),
            pytrace=False,
        )


class ShopClock:
    """The shop's one clock in a test (app.db.utcnow): moved forward or set, never slept on."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return utcnow()

    def advance(self, by: timedelta) -> datetime:
        """Move the clock `by` forward; the new time."""
        self.offset += by
        set_clock_offset(self.offset)
        return utcnow()

    def set(self, at: datetime) -> None:
        """Make the clock read `at` (aware) from now on, running on from there."""
        self.offset = at - datetime.now(UTC)
        set_clock_offset(self.offset)


@pytest.fixture
def shop_clock() -> Iterator[ShopClock]:
    """The shop's clock for this test: deadlines, windows and schedules follow it (app.db.utcnow)."""
    clock = ShopClock()
    try:
        yield clock
    finally:
        set_clock_offset(timedelta(0))


@pytest.fixture
def many_unpaid_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests (and load tests) that let one customer pile up unpaid orders: the per-customer limits on
    unpaid orders (MAX_UNPAID_ORDERS_PER_CUSTOMER, MAX_UNPAID_UNITS_PER_SKU) raised out of the way."""
    monkeypatch.setattr(settings, "max_unpaid_orders_per_customer", 1_000_000)
    monkeypatch.setattr(settings, "max_unpaid_units_per_sku", 1_000_000)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    from app.main import app

    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
