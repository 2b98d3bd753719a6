"""Sync versus async SQLAlchemy on MariaDB, behind FastAPI: which should the shop use?

Two minimal apps, measured in the same run with the same load:
  sync   `def` endpoint (FastAPI's threadpool), SQLAlchemy sync engine with PyMySQL
  async  `async def` endpoint, SQLAlchemy async engine with asyncmy (what the shop uses)
Each request reads one user row by primary key and increments one counter row (its own transaction).
Each app is served by one uvicorn worker, one app at a time, loaded by `wrk` (Debian package) when it is
installed, otherwise by a bounded httpx load generator in a separate process. Loopback only.

    python bench/db_sync_vs_async.py                       # 50 connections, 10 s per round, 2 rounds
    python bench/db_sync_vs_async.py --duration 5 --rounds 1 --connections 20
    BENCH_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench python bench/db_sync_vs_async.py

The figures are printed as ratios to the sync baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import free_port, run_wrk, wait_until_up  # bench/ is this script's directory

DEFAULT_URL = "mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench"
USERS = 1000
POOL = {"pool_size": 20, "max_overflow": 20, "pool_recycle": 1800}
READ_USER = "SELECT id, phone, nickname FROM bench_user WHERE id = :id"
BUMP_COUNTER = "UPDATE bench_counter SET hits = hits + 1 WHERE id = :id"


def _sync_url(url: str) -> str:
    return re.sub(r"^mysql(\+\w+)?://", "mysql+pymysql://", url)


def _async_url(url: str) -> str:
    return re.sub(r"^mysql(\+\w+)?://", "mysql+asyncmy://", url)


# ----------------------------------------------------------------------------------------- the two apps


def sync_app(url: str, read_only: bool = False):
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text

    engine = create_engine(_sync_url(url), **POOL)
    app = FastAPI()

    @app.get("/hit")
    def hit() -> dict:
        user_id = random.randint(1, USERS)
        with engine.begin() as conn:
            row = conn.execute(text(READ_USER), {"id": user_id}).one()
            if not read_only:
                conn.execute(text(BUMP_COUNTER), {"id": user_id})
        return {"id": row.id, "nickname": row.nickname}

    return app


def async_app(url: str, read_only: bool = False):
    from fastapi import FastAPI
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(_async_url(url), **POOL)
    app = FastAPI()

    @app.get("/hit")
    async def hit() -> dict:
        user_id = random.randint(1, USERS)
        async with engine.begin() as conn:
            row = (await conn.execute(text(READ_USER), {"id": user_id})).one()
            if not read_only:
                await conn.execute(text(BUMP_COUNTER), {"id": user_id})
        return {"id": row.id, "nickname": row.nickname}

    return app


def serve(kind: str, url: str, port: int, read_only: bool) -> None:
    import uvicorn

    app = (sync_app if kind == "sync" else async_app)(url, read_only)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ----------------------------------------------------------------------------------------- set-up


def prepare_database(url: str) -> None:
    from sqlalchemy import create_engine, make_url, text

    sync_url = make_url(_sync_url(url))
    server = create_engine(sync_url.set(database=""))
    with server.begin() as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{sync_url.database}` CHARACTER SET utf8mb4"))
    server.dispose()
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_user, bench_counter"))
        conn.execute(
            text(
                "CREATE TABLE bench_user (id BIGINT PRIMARY KEY, phone VARCHAR(20) NOT NULL,"
                " nickname VARCHAR(32) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE bench_counter (id BIGINT PRIMARY KEY, hits BIGINT NOT NULL DEFAULT 0)"
                " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            )
        )
        conn.execute(
            text("INSERT INTO bench_user (id, phone, nickname) VALUES (:id, :phone, :nickname)"),
            [{"id": i, "phone": f"138{i:08d}", "nickname": f"用户{i}"} for i in range(1, USERS + 1)],
        )
        conn.execute(
            text("INSERT INTO bench_counter (id, hits) VALUES (:id, 0)"),
            [{"id": i} for i in range(1, USERS + 1)],
        )
    engine.dispose()


def total_hits(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(_sync_url(url))
    with engine.connect() as conn:
        hits = conn.execute(text("SELECT COALESCE(SUM(hits), 0) FROM bench_counter")).scalar_one()
    engine.dispose()
    return int(hits)


def start_server(kind: str, url: str, read_only: bool) -> tuple[subprocess.Popen, str]:

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", kind, "--database-url", url, "--port", str(port)]
        + (["--read-only"] if read_only else []),
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, base, "/hit", kind)
    return process, base


# ----------------------------------------------------------------------------------------- load


def load_with_wrk(url: str, connections: int, duration: float) -> dict:
    return run_wrk(url, connections, duration)


async def _httpx_load(url: str, connections: int, duration: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        stop_at = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                    if response.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return {"rps": len(latencies) / elapsed, "p99_ms": p99 * 1000, "errors": errors, "socket_errors": ""}


def load_with_httpx(url: str, connections: int, duration: float) -> dict:
    """The fallback generator, in its own process so it does not share a core's time with this one."""
    import json

    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "load",
            url,
            "--connections",
            str(connections),
            "--duration",
            str(duration),
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------- main


def _load_average() -> str:
    # Other work on the machine skews both sides; the load average says how much there was.
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run(args: argparse.Namespace) -> int:
    tool = "wrk" if shutil.which("wrk") and not args.httpx else "httpx"
    load = load_with_wrk if tool == "wrk" else load_with_httpx
    url = args.database_url
    print(
        f"database: {url.split('@')[-1]}   load: {tool}, {args.connections} connections, {args.duration:.0f} s"
    )
    work = "1 PK read" if args.read_only else "1 PK read + 1 counter update (own transaction)"
    print(f"one uvicorn worker per app; {os.cpu_count()} CPUs; each request: {work}")
    print(f"load average before: {_load_average()}")
    prepare_database(url)
    results: dict[str, list[dict]] = {"sync": [], "async": []}
    before = total_hits(url)
    for round_no in range(1, args.rounds + 1):
        for kind in ("sync", "async"):
            process, base = start_server(kind, url, args.read_only)
            try:
                load(base + "/hit", args.connections, min(2.0, args.duration))  # warm-up
                result = load(base + "/hit", args.connections, args.duration)
            finally:
                process.terminate()
                process.wait(timeout=15)
            results[kind].append(result)
            print(
                f"  round {round_no} {kind:>5}: {result['rps']:8.0f} req/s  p99 {result['p99_ms']:7.1f} ms"
                f"  errors {result['errors']} {result['socket_errors']}"
            )
    counted = total_hits(url) - before

    sync_rps, async_rps = (statistics.median(r["rps"] for r in results[k]) for k in ("sync", "async"))
    sync_p99, async_p99 = (statistics.median(r["p99_ms"] for r in results[k]) for k in ("sync", "async"))
    print()
    print(f"{'':8}{'req/s (median)':>16}{'p99 ms (median)':>18}")
    print(f"{'sync':8}{sync_rps:16.0f}{sync_p99:18.1f}   (baseline)")
    print(f"{'async':8}{async_rps:16.0f}{async_p99:18.1f}")
    print(f"ratio async/sync: throughput {async_rps / sync_rps:.2f}x, p99 {async_p99 / sync_p99:.2f}x")
    print(f"counter increments committed during the run: {counted}")
    print(f"load average after: {_load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    serve_p = sub.add_parser("serve", help="(internal) serve one of the two apps")
    serve_p.add_argument("kind", choices=["sync", "async"])
    serve_p.add_argument("--database-url", required=True)
    serve_p.add_argument("--port", type=int, required=True)
    serve_p.add_argument("--read-only", action="store_true")
    load_p = sub.add_parser("load", help="(internal) the httpx load generator")
    load_p.add_argument("url")
    load_p.add_argument("--connections", type=int, default=50)
    load_p.add_argument("--duration", type=float, default=10)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (max 60)")
    parser.add_argument("--rounds", type=int, default=2, help="sync/async pairs, alternated (max 5)")
    parser.add_argument(
        "--httpx", action="store_true", help="use the httpx load generator even if wrk exists"
    )
    parser.add_argument(
        "--read-only", action="store_true", help="skip the counter update (isolates the driver)"
    )
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.kind, args.database_url, args.port, args.read_only)
        return 0
    if args.command == "load":
        import json

        print(json.dumps(asyncio.run(_httpx_load(args.url, args.connections, min(args.duration, 60)))))
        return 0
    args.duration = max(1.0, min(args.duration, 60.0))
    args.rounds = max(1, min(args.rounds, 5))
    args.connections = max(1, min(args.connections, 500))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
