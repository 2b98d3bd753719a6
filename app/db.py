"""Engine, sessions and the declarative base.

One transaction per request: `get_session` commits when the endpoint succeeds and rolls back when it
raises. Code below the router only flushes. Background jobs open their own session with `session_scope`.
This module is the only place that commits or rolls back; a page that shows a refusal instead of failing
runs the refusable call in `refusable(session)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from app.config import get_settings
from app.kit import leandb

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on MariaDB, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


# How far the shop's clock runs ahead of the machine's: zero except in tests, which move it (the
# `shop_clock` fixture in tests/conftest.py) instead of sleeping.
_clock_offset = timedelta(0)


def utcnow() -> datetime:
    """The shop's one clock (aware UTC). Every deadline, window and schedule reads it, so a test that moves it
    (`set_clock_offset`) moves them all."""
    return datetime.now(UTC) + _clock_offset


def set_clock_offset(offset: timedelta) -> None:
    """Run the shop's clock `offset` ahead of the machine's (tests only; the shop never moves its clock)."""
    global _clock_offset
    _clock_offset = offset


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (DATETIME(6) on MariaDB, text on SQLite); always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


MYSQL_TABLE_ARGS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def build_engine(url: str | None = None) -> AsyncEngine:
    settings = get_settings()
    url = url or settings.database_url
    kwargs: dict[str, Any] = {"echo": settings.sql_echo}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
        # READ COMMITTED: conditional updates see the latest committed stock, and gap locks do not
        # turn unrelated inserts into deadlocks.
        isolation_level="READ COMMITTED",
        **kwargs,
    )
    # Instead of pool_pre_ping (a round trip before every use): see _check_out_live.
    event.listen(engine.sync_engine, "checkin", _note_idle_since)
    event.listen(engine.sync_engine, "checkout", _check_out_live)
    return engine


def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _check_out_live(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection is checked before use, cheaply. One the server has closed (a restart, a KILL,
    wait_timeout: its socket has seen the end) is replaced without a round trip; one idle longer than
    IDLE_PING_SECONDS is pinged, since a server that vanished without closing it is only found by asking.
    Either way the pool opens a fresh connection (DisconnectionError), so the first requests after a
    database restart do not fail on the connections the old server left behind."""
    driver_connection = getattr(dbapi_connection, "_connection", None)
    if leandb.server_closed(driver_connection):
        raise DisconnectionError("the server closed this pooled connection")
    idle_since = record.info.get("idle_since")
    if idle_since is not None and time.monotonic() - idle_since > leandb.IDLE_PING_SECONDS:
        try:
            dbapi_connection.ping(False)
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc


def get_engine() -> AsyncEngine:
    global _engine
    if _engine is None:
        _engine = build_engine()
    return _engine


def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    global _sessionmaker
    if _sessionmaker is None:
        _sessionmaker = async_sessionmaker(get_engine(), expire_on_commit=False, autoflush=False)
    return _sessionmaker


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


def after_commit(session: AsyncSession, key: str, hook: Callable[[], Awaitable[None]]) -> None:
    """Run `hook` once the unit of work has committed, before the response is sent (cache invalidation,
    file clean-up). Hooks with the same key run once; a hook's failure is logged, never raised."""
    hooks: dict[str, Callable[[], Awaitable[None]]] = session.info.setdefault("after_commit", {})
    hooks.setdefault(key, hook)


async def _run_after_commit(session: AsyncSession) -> None:
    hooks = session.info.pop("after_commit", {})
    for key, hook in hooks.items():
        try:
            await hook()
        except Exception:  # noqa: BLE001 - the commit stands; the hook's owner logs and copes
            logging.getLogger("daoxiang.db").exception("after-commit hook %s failed", key)


def commit_even_if_idle(session: AsyncSession | Session) -> None:
    """Make this unit of work commit even if it ran no statement (a before_commit hook has work to do)."""
    session.info["commit_even_if_idle"] = True


@asynccontextmanager
async def refusable(session: AsyncSession) -> AsyncIterator[None]:
    """For a page that answers a refusal (an AppError) with a form again: run the service call in a
    savepoint, so a refusal undoes what the call wrote while the request's unit of work goes on (and
    commits nothing of it). The AppError is raised again for the page to show.

    A call that ended the request's transaction itself (checkout's idempotency claim commits on the
    request's session) leaves no savepoint to return to: then the whole unit of work is rolled back."""
    from app.errors import AppError

    savepoint = await session.begin_nested()
    try:
        yield
    except AppError:
        if savepoint.is_active:
            await savepoint.rollback()
        else:
            await session.rollback()
        raise
    except BaseException:
        if savepoint.is_active:
            await savepoint.rollback()
        raise
    else:
        if savepoint.is_active:
            await savepoint.commit()


async def _commit(session: AsyncSession) -> None:
    # A session that never began a transaction (the request used no database, or only its own lean
    # connection, like checkout on MariaDB) has nothing to commit: skip the call and its greenlet hop.
    if session.in_transaction() or session.info.pop("commit_even_if_idle", False):
        await session.commit()


async def _rollback(session: AsyncSession) -> None:
    # A refusal before any database work (a flash sale's gate, a checkout on its own lean connection) left
    # nothing to roll back: skip the call and its greenlet hop (~200 us of CPU under load).
    if session.in_transaction():
        await session.rollback()


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A unit of work outside a request (worker jobs, CLI): commit on success, roll back on error."""
    from app.errors import AppError

    session = get_sessionmaker()()
    try:
        yield session
        await _commit(session)
        await _run_after_commit(session)
    except AppError as exc:
        if exc.commit_session:
            await _commit(session)
            await _run_after_commit(session)
        else:
            session.info.pop("after_commit", None)
            await _rollback(session)
        raise
    except BaseException:
        session.info.pop("after_commit", None)
        await _rollback(session)
        raise
    finally:
        # A session that holds no connection and no objects (checkout on MariaDB uses its own connection)
        # has nothing to close: skip the call and its greenlet hop.
        if session.in_transaction() or session.identity_map or session.new:
            await session.close()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a client never sees a success
# whose transaction later failed to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
