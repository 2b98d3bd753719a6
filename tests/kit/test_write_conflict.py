"""A transaction the database rolled back because a concurrent one wrote the same rows first (an InnoDB
deadlock, a lock-wait timeout, or a Galera certification conflict at COMMIT, which MariaDB reports as the same
deadlock error) is answered 503 `write_conflict` with Retry-After: the client may repeat it, nothing was
written. Before, such a request was a 500 with a traceback in the log. The deadlock here is a real one."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pymysql
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import SessionDep
from app.errors import DatabaseUnavailable, WriteConflict
from app.kit.faults import infrastructure_fault
from app.kit.middleware import ErrorBoundary
from tests.conftest import settings


def _connect() -> pymysql.Connection:
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
        autocommit=False,
    )


@pytest.fixture
def table():
    conn = _connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS _conflict_probe (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        cur.execute("REPLACE INTO _conflict_probe VALUES (1, 0), (2, 0)")
    conn.commit()
    yield
    with conn.cursor() as cur:
        cur.execute("DROP TABLE _conflict_probe")
    conn.close()


def _real_deadlock() -> BaseException:
    """Two transactions lock rows 1 and 2 in opposite orders: InnoDB rolls one back with error 1213."""
    a, b = _connect(), _connect()
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(conn: pymysql.Connection, first: int, second: int) -> None:
        try:
            with conn.cursor() as cur:
                cur.execute("UPDATE _conflict_probe SET v = v + 1 WHERE id = %s", (first,))
                barrier.wait()
                cur.execute("UPDATE _conflict_probe SET v = v + 1 WHERE id = %s", (second,))
            conn.commit()
        except pymysql.MySQLError as exc:
            errors.append(exc)
            conn.rollback()

    threads = [threading.Thread(target=run, args=(a, 1, 2)), threading.Thread(target=run, args=(b, 2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    a.close()
    b.close()
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.mysql_only
def test_a_real_deadlock_is_a_write_conflict(table):
    exc = _real_deadlock()
    assert exc.args[0] == 1213
    assert isinstance(infrastructure_fault(exc), WriteConflict)
    wrapped = OperationalError("UPDATE ...", {}, exc)
    assert isinstance(infrastructure_fault(wrapped), WriteConflict)


@pytest.mark.parametrize("code", [1213, 1205])
def test_rolled_back_codes_are_conflicts_and_a_node_not_ready_is_unavailable(code):
    assert isinstance(infrastructure_fault(pymysql.err.OperationalError(code, "rolled back")), WriteConflict)
    assert isinstance(
        infrastructure_fault(pymysql.err.OperationalError(1047, "WSREP not ready")), DatabaseUnavailable
    )
    # A statement that simply failed is not a conflict (a bug or bad SQL stays a 500).
    assert infrastructure_fault(pymysql.err.OperationalError(1054, "Unknown column")) is None


@pytest.mark.mysql_only
async def test_a_request_whose_commit_conflicts_gets_503_write_conflict(table):
    holder = _connect()
    app = FastAPI()
    app.add_middleware(ErrorBoundary)  # as app.main does: inside Starlette's own catch-all

    @app.post("/probe")
    async def probe(session: SessionDep) -> dict:
        await session.execute(
            text(
                "SET STATEMENT innodb_lock_wait_timeout = 1 FOR "
                "UPDATE _conflict_probe SET v = v + 1 WHERE id = 1"
            )
        )
        return {"ok": True}

    with holder.cursor() as cur:
        cur.execute("UPDATE _conflict_probe SET v = v + 100 WHERE id = 1")  # holds the row
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/probe")
    finally:
        await asyncio.to_thread(holder.rollback)
        holder.close()
    assert response.status_code == 503
    assert response.json()["code"] == "write_conflict"
    assert response.headers["retry-after"] == "1"
    check = _connect()
    with check.cursor() as cur:
        cur.execute("SELECT v FROM _conflict_probe WHERE id = 1")
        assert cur.fetchone()[0] == 0  # nothing was written
    check.close()


def _conflict() -> OperationalError:
    return OperationalError("UPDATE ...", {}, pymysql.err.OperationalError(1213, "Deadlock found"))


def _app_conflicting(times: int) -> tuple[FastAPI, list[bytes]]:
    """A route that the database 'rolls back' `times` times before it succeeds; it records each body it saw."""
    from app.kit.middleware import RetryOnConflict

    seen: list[bytes] = []
    app = FastAPI()
    app.add_middleware(RetryOnConflict)
    app.add_middleware(ErrorBoundary)

    async def handler(request: Request) -> dict:
        seen.append(await request.body())
        if len(seen) <= times:
            raise _conflict()
        return {"attempts": len(seen)}

    for method in ("PUT", "DELETE", "POST", "PATCH"):
        app.add_api_route("/thing", handler, methods=[method])
    return app, seen


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_idempotent_methods_are_repeated_with_their_body(method):
    app, seen = _app_conflicting(times=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.request(method, "/thing", content=b'{"quantity": 3}')
    assert response.status_code == 200 and response.json() == {"attempts": 3}
    assert seen == [b'{"quantity": 3}'] * 3


async def test_three_conflicts_in_a_row_are_answered_503():
    app, seen = _app_conflicting(times=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.put("/thing", content=b"{}")
    assert response.status_code == 503 and response.json()["code"] == "write_conflict"
    assert len(seen) == 3


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_other_methods_are_never_repeated(method):
    app, seen = _app_conflicting(times=1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.request(method, "/thing", content=b"{}")
    assert response.status_code == 503 and response.json()["code"] == "write_conflict"
    assert len(seen) == 1


async def test_a_bug_is_not_repeated():
    from app.kit.middleware import RetryOnConflict

    calls = []
    app = FastAPI()
    app.add_middleware(RetryOnConflict)
    app.add_middleware(ErrorBoundary)

    @app.put("/bug")
    async def bug() -> dict:
        calls.append(1)
        raise ValueError("a bug")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.put("/bug", content=b"{}")
    assert response.status_code == 500 and len(calls) == 1
