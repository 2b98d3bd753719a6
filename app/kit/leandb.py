"""Plain asyncmy connections for the hottest write path on MariaDB (checkout), without SQLAlchemy.

Measured on the 2-core box: one statement through an AsyncSession costs ~320 us of CPU when built per call
and ~150 us prebuilt; the same statement on a bare asyncmy cursor costs ~60 us, and the session's pool
checkout with pre-ping and its commit another ~400 us. Checkout runs ten statements, so on MariaDB it uses
this pool instead and owns its short transaction here, in three round trips (app.checkout.stores): the
reads, the order with its lines, then the rest with the stock UPDATEs and, where the server enforces CHECK
constraints, the COMMIT itself, which keeps the hot SKU row locked for as short a time as possible.

Connections of `get_pool()` run in autocommit mode (a single read needs no COMMIT round trip), those of
`get_pool(transactions=True)` do not (the first statement opens the transaction: no BEGIN round trip) and
accept several statements per round trip; all at READ COMMITTED, like the engine's. A connection whose state is in doubt after an error is dropped, never reused; one the
server has closed (a restart, KILL: the socket has seen its end) is dropped before use at no cost; one that
sat idle longer than IDLE_PING_SECONDS is also pinged (the server may have vanished without closing it).
SQLite has no pool: callers take the SQLAlchemy path there.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import make_url

from app.config import get_settings

IDLE_PING_SECONDS = 30.0


def error_code(exc: BaseException) -> int | None:
    """The server's error number of an asyncmy error (1213 deadlock, 1062 duplicate key...), else None."""
    from asyncmy.errors import MySQLError

    if isinstance(exc, MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def _connection_suspect(exc: BaseException) -> bool:
    """True when the connection's state is unknown after `exc`: cancelled mid-statement, a socket error, or
    a client-side driver error (2000-2999: lost connection, server gone away...). An error the server
    answered for one statement, or one raised by the caller's own code between statements, leaves the
    connection usable after a ROLLBACK."""
    from asyncmy.errors import InterfaceError, MySQLError

    if not isinstance(exc, Exception) or isinstance(exc, OSError | InterfaceError):
        return True
    code = error_code(exc)
    return isinstance(exc, MySQLError) and (code is None or code >= 2000)


def server_closed(conn: Any) -> bool:
    """True when the server has closed this asyncmy connection (end of stream seen, transport closing),
    checked without a round trip. A half-open connection (the server vanished without closing it) is not
    seen here: the idle ping catches those."""
    return bool(getattr(conn, "_stream_broken", False))


class HexText:
    """Text the driver sends as a hex literal (`_utf8mb4 X'...'`), for the long JSON values of checkout. The
    driver escapes a str character by character in Python (~100 us a kilobyte); hex is one C call, and its
    digits cannot end the literal early. (Not a str subclass: the driver would escape it as a str.)"""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _hex_literal(value: HexText, _mapping: object = None) -> str:
    return "_utf8mb4 X'" + value.text.encode().hex() + "'"


class Transaction:
    """The cursor of `LeanPool.transaction()`. A caller that sends COMMIT itself, as the last statement of its
    last round trip, sets `committed` (the server's status flags do not tell it reliably across results)."""

    __slots__ = ("committed", "cursor")

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.committed = False


def _server_kind(version: str) -> tuple[bool, bool]:
    """(MariaDB?, enforces CHECK constraints?) from the server's version string ("5.5.5-10.11.19-MariaDB-...",
    "8.0.36")."""
    is_mariadb = "mariadb" in version.lower()
    numbers = re.findall(r"\d+", version.removeprefix("5.5.5-"))
    release = tuple(int(n) for n in numbers[:3])
    return is_mariadb, release >= ((10, 2, 1) if is_mariadb else (8, 0, 16))


class LeanPool:
    def __init__(self, url: str, size: int, overflow: int, *, autocommit: bool = True) -> None:
        from asyncmy.converters import conversions

        parsed = make_url(url)
        self._kwargs: dict[str, Any] = {
            "host": parsed.host or "127.0.0.1",
            "port": parsed.port or 3306,
            "user": parsed.username or "root",
            "password": parsed.password or "",
            "db": parsed.database,
            "charset": "utf8mb4",
            "autocommit": autocommit,
            "connect_timeout": 5,
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "conv": {**conversions, HexText: _hex_literal},
        }
        if not autocommit:
            from asyncmy.constants import CLIENT

            # Transactions send their last writes together with the stock UPDATE (app.checkout.stores).
            self._kwargs["client_flag"] = CLIENT.MULTI_STATEMENTS
        self.autocommit = autocommit
        # What the server is, known once the first connection is open: MariaDB (rather than MySQL), and
        # whether it enforces CHECK constraints (MariaDB 10.2+, MySQL 8.0.16+; older ones parse and ignore them).
        self.is_mariadb = False
        self.enforces_checks = False
        self._idle: list[tuple[Any, float]] = []
        # Every connection is kept: closing and reopening them under a burst made the catalogue's slow tail.
        self._max_idle = size + overflow
        self._slots = asyncio.Semaphore(size + overflow)

    async def _acquire(self) -> Any:
        while self._idle:
            conn, since = self._idle.pop()
            if server_closed(conn):
                # The server went away (restart, KILL, wait_timeout) while this sat idle: it said so with
                # a FIN that the event loop has already read. Known without a round trip.
                conn.close()
                continue
            if time.monotonic() - since < IDLE_PING_SECONDS:
                return conn
            try:
                await conn.ping(reconnect=False)
                return conn
            except Exception:  # noqa: BLE001 - a dead idle connection: drop it, try the next
                conn.close()
        from asyncmy import connect

        conn = await connect(**self._kwargs)
        self.is_mariadb, self.enforces_checks = _server_kind(conn.get_server_info())
        return conn

    def _give_back(self, conn: Any) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append((conn, time.monotonic()))
        else:
            conn.close()

    @asynccontextmanager
    async def cursor(self) -> AsyncIterator[Any]:
        """A cursor in autocommit mode: each statement commits (or just reads) on its own."""
        assert self.autocommit, "cursor() needs an autocommit pool: get_pool()"
        async with self._slots:
            conn = await self._acquire()
            try:
                async with conn.cursor() as cur:
                    yield cur
            except BaseException as exc:
                if _connection_suspect(exc):
                    conn.close()
                else:
                    self._give_back(conn)
                raise
            self._give_back(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A cursor inside a transaction, committed at the end (unless the block's own last statement was a
        COMMIT: `Transaction.committed`); rolled back when the block raises.

        On a pool without autocommit (get_pool(transactions=True)) the first statement opens the transaction
        itself: no BEGIN round trip."""
        async with self._slots:
            conn = await self._acquire()
            try:
                if self.autocommit:
                    await conn.begin()
                async with conn.cursor() as cur:
                    tx = Transaction(cur)
                    yield tx
                if not tx.committed:
                    await conn.commit()
            except BaseException as exc:
                if _connection_suspect(exc):
                    # The server rolls the open transaction back when the connection closes.
                    conn.close()
                    raise
                try:
                    await conn.rollback()
                except BaseException:
                    conn.close()
                    raise exc from None
                self._give_back(conn)
                raise
            self._give_back(conn)

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, LeanPool]] = (
    weakref.WeakKeyDictionary()
)


def get_pool(*, transactions: bool = False) -> LeanPool | None:
    """This event loop's pool on MariaDB/MySQL; None on SQLite. `transactions=True`: connections without
    autocommit, for `transaction()` only (a read left on one would hold its transaction open)."""
    settings = get_settings()
    if not settings.database_url.startswith("mysql"):
        return None
    loop = asyncio.get_running_loop()
    pools = _pools.setdefault(loop, {})
    pool = pools.get(transactions)
    if pool is None:
        pool = pools[transactions] = LeanPool(
            settings.database_url,
            settings.db_pool_size,
            settings.db_max_overflow,
            autocommit=not transactions,
        )
    return pool


def close() -> None:
    for pools in list(_pools.values()):
        for pool in pools.values():
            pool.close()
    _pools.clear()
