"""Checkout under load: many customers placing one-line orders against one SKU with ample stock.

Measured beside the framework's ceiling in the same run:
  ceiling   a bare FastAPI endpoint returning a 20-item JSON list (no database)
  checkout  the shop itself (`daoxiang serve`, one uvicorn worker) on MariaDB + Redis:
            POST /api/orders with a Bearer token, an Idempotency-Key and one line (1 bag of one hot SKU),
            customers picked at random from --customers accounts
Both with one uvicorn worker, loaded by `wrk` with the same threads/connections/duration (alternating
rounds). Checks afterwards that no request failed and that the stock fell by exactly what was sold.
While checkout runs, --relay-workers `daoxiang worker` processes (default 1) relay the outbox to the Redis
stream; the outbox is sampled every 0.2 s: events pending and the age of the oldest (the lag, target < 2 s).

    python bench/checkout.py                                   # 2 rounds, 10 s, 32 connections
    python bench/checkout.py --connections 50 --duration 15 --rounds 3
    python bench/checkout.py --profile        # CPU per checkout, cProfiled in-process (no HTTP server)
    BENCH_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_orders \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/3 python bench/checkout.py

The database named in the URL is dropped and rebuilt with `alembic upgrade head` (it must be a bench
database). Targets (issue 5): orders/s >= 0.05 x ceiling, p99 < 100 ms, no failed request.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ceiling_app, free_port, run_wrk, wait_until_up  # bench/ is this script's directory

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_orders"
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"
START_STOCK = 50_000_000
PRICE_FEN = 5990
BENCH_SECRET = "bench-secret-key-0123456789abcdef-0123456789"


def serve_ceiling(port: int) -> None:
    import uvicorn

    uvicorn.run(ceiling_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ----------------------------------------------------------------------------------------- set-up


def _env(db_url: str, redis_url: str, log_level: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": BENCH_SECRET,
        "APP_ENV": "dev",
        "LOG_LEVEL": log_level,
        "ORDER_PAY_TIMEOUT_MINUTES": "30",
        # Every order here stays unpaid and a customer places hundreds: the per-customer limits on unpaid
        # orders are raised out of the way (their check, under the customer's row lock, still runs).
        "MAX_UNPAID_ORDERS_PER_CUSTOMER": "1000000000",
        "MAX_UNPAID_UNITS_PER_SKU": "1000000000",
    }


def prepare(db_url: str, redis_url: str, customers: int) -> tuple[int, list[tuple[str, int]]]:
    """Fresh schema, `customers` customers with one address each, one product with one SKU.
    Returns (sku_id, [(access token, address id)])."""
    from sqlalchemy import create_engine, make_url, text

    url = make_url(re.sub(r"^mysql(\+\w+)?://", "mysql+pymysql://", db_url))
    server = create_engine(url.set(database=""))
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{url.database}`"))
        conn.execute(
            text(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    server.dispose()
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env=_env(db_url, redis_url, "WARNING"),
        check=True,
        capture_output=True,
    )
    engine = create_engine(url)
    now = "2026-11-25 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, phone, password_hash, nickname, role, is_active, created_at, updated_at)"
                " VALUES (:id, :phone, 'x', :nick, 'customer', 1, :now, :now)"
            ),
            [
                {"id": i, "phone": f"139{i:08d}", "nick": f"买家{i}", "now": now}
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            text(
                "INSERT INTO addresses (id, user_id, recipient, phone, province, city, district, detail,"
                " is_default, created_at, updated_at) VALUES (:id, :id, '张三', '13912345678', '黑龙江省',"
                " '哈尔滨市', '五常市', '民乐乡 1 号', 1, :now, :now)"
            ),
            [{"id": i, "now": now} for i in range(1, customers + 1)],
        )
        conn.execute(
            text(
                "INSERT INTO products (id, name, subtitle, description, origin, variety, grade, storage_advice,"
                " status, sales_count, sort_weight, min_price_fen, created_at, updated_at)"
                " VALUES (1, '五常大米 稻花香2号', '', '', '黑龙江五常', '稻花香2号', '', '', 'published', 0, 0,"
                " :price, :now, :now)"
            ),
            {"price": PRICE_FEN, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO skus (id, product_id, name, price_fen, stock, weight_g, is_active, sort_order,"
                " created_at, updated_at) VALUES (1, 1, '5kg 真空包装', :price, :stock, 5000, 1, 0, :now, :now)"
            ),
            {"price": PRICE_FEN, "stock": START_STOCK, "now": now},
        )
    engine.dispose()
    os.environ.update(_env(db_url, redis_url, "WARNING"))
    from app.config import get_settings

    get_settings.cache_clear()
    from app.users.security import create_access_token

    tokens = [(create_access_token(i, "customer")[0], i) for i in range(1, customers + 1)]
    return 1, tokens


def stock_and_sold(db_url: str) -> tuple[int, int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(re.sub(r"^mysql(\+\w+)?://", "mysql+pymysql://", db_url))
    with engine.connect() as conn:
        stock = conn.execute(text("SELECT stock FROM skus WHERE id = 1")).scalar_one()
        orders = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
        sold = conn.execute(text("SELECT COALESCE(SUM(quantity), 0) FROM order_items")).scalar_one()
    engine.dispose()
    return int(stock), int(orders), int(sold)


class OutboxLag:
    """Samples the outbox while checkout runs: events not yet published and the age of the oldest one
    (how far the relay, `daoxiang worker`, is behind the sales)."""

    def __init__(self, db_url: str, every: float = 0.2) -> None:
        import threading

        from sqlalchemy import create_engine

        self.engine = create_engine(re.sub(r"^mysql(\+\w+)?://", "mysql+pymysql://", db_url))
        self.every = every
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[int, float]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            pending, lag_us = conn.execute(
                text(
                    "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(occurred_at), UTC_TIMESTAMP(6)) "
                    "FROM outbox_events WHERE published_at IS NULL"
                )
            ).one()
        return int(pending), max(0.0, (lag_us or 0) / 1e6)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.sample())

    def __enter__(self) -> OutboxLag:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def until_drained(self, timeout: float = 60) -> float:
        """Seconds after the load until nothing is pending (inf if it does not drain in `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.sample()[0] == 0:
                return time.monotonic() - started
            time.sleep(0.1)
        return float("inf")

    def summary(self) -> dict[str, float]:
        samples = self.samples or [(0, 0.0)]
        return {
            "max_pending": max(p for p, _ in samples),
            "last_pending": samples[-1][0],
            "max_lag_s": max(lag for _, lag in samples),
            "last_lag_s": samples[-1][1],
        }

    def close(self) -> None:
        self.engine.dispose()


def start_workers(count: int, db_url: str, redis_url: str) -> list[subprocess.Popen]:
    """`daoxiang worker` processes: their relay publishes the outbox while checkout runs."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=_env(db_url, redis_url, "WARNING"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def start(kind: str, db_url: str, redis_url: str, log_level: str) -> tuple[subprocess.Popen, str]:

    port = free_port()
    if kind == "ceiling":
        cmd = [sys.executable, __file__, "serve-ceiling", "--port", str(port)]
        probe = "/items"
    else:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        probe = "/api/health"
    process = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=_env(db_url, redis_url, log_level),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, base, probe, kind)
    return process, base


# ----------------------------------------------------------------------------------------- load

_LUA = """
local customers = {%(customers)s}
local sku_id = %(sku_id)d
local run = "%(run)s"
local counter = 0

local started = 0

function setup(thread)
  started = started + 1
  thread:set("thread_no", started)
end

function init(args)
  math.randomseed(thread_no * 7919 + os.time())
end

request = function()
  counter = counter + 1
  local c = customers[math.random(#customers)]
  local body = '{"address_id":' .. c[2] .. ',"items":[{"sku_id":' .. sku_id .. ',"quantity":1}]}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. c[1],
  }
  if %(with_key)s then
    headers["Idempotency-Key"] = run .. "-" .. thread_no .. "-" .. counter
  end
  return wrk.format("POST", "/api/orders", headers, body)
end
"""


def write_script(directory: Path, sku_id: int, customers: list[tuple[str, int]], with_key: bool) -> str:
    path = directory / f"checkout-{secrets.token_hex(4)}.lua"
    rows = ",".join(f'{{"{token}",{address_id}}}' for token, address_id in customers)
    path.write_text(
        _LUA
        % {
            "customers": rows,
            "sku_id": sku_id,
            "run": secrets.token_hex(6),
            "with_key": "true" if with_key else "false",
        }
    )
    return str(path)


def profile(args: argparse.Namespace) -> int:
    """The shop's ASGI app in this process, no HTTP server in between (uvicorn costs the ceiling the same):
    CPU per checkout measured plainly, then the same load again under cProfile."""
    import asyncio
    import cProfile
    import json
    import pstats
    import random

    sys.path.insert(0, str(ROOT))  # this checkout's `app`, whatever the editable install points at
    sku_id, customers = prepare(args.database_url, args.redis_url, args.customers)
    os.environ["LOG_LEVEL"] = args.log_level
    from app.config import get_settings

    get_settings.cache_clear()
    from app.main import app

    run_id = secrets.token_hex(6)
    counter = 0

    async def call() -> int:
        nonlocal counter
        counter += 1
        token, address_id = random.choice(customers)
        body = json.dumps({"address_id": address_id, "items": [{"sku_id": sku_id, "quantity": 1}]}).encode()
        headers = [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ]
        if not args.no_key:
            headers.append((b"idempotency-key", f"{run_id}-{counter}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/orders",
            "raw_path": b"/api/orders",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        status: list[int] = []
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    async def load(per_worker: int) -> tuple[float, float, int]:
        async def worker() -> int:
            failed = 0
            for _ in range(per_worker):
                failed += await call() != 201
            return failed

        started, cpu = time.perf_counter(), time.process_time()
        failed = sum(await asyncio.gather(*(worker() for _ in range(args.connections))))
        return time.perf_counter() - started, time.process_time() - cpu, failed

    async def run_all() -> None:
        assert await call() == 201, "checkout does not answer 201"
        await load(10)  # warm-up: connections, statement caches
        per_worker = max(1, args.profile_requests // args.connections)
        n = per_worker * args.connections
        elapsed, cpu, failed = await load(per_worker)
        print(
            f"plain:     {n} checkouts, {args.connections} at a time: {cpu / n * 1e6:.0f} us CPU each, "
            f"{n / elapsed:.0f}/s, {failed} failed"
        )
        profiler = cProfile.Profile()
        profiler.enable()
        elapsed, cpu, failed = await load(per_worker)
        profiler.disable()
        print(f"profiled:  {cpu / n * 1e6:.0f} us CPU each, {failed} failed")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)

    asyncio.run(run_all())
    stock, orders, sold = stock_and_sold(args.database_url)
    exact = START_STOCK - stock == sold == orders
    print(
        f"stock {START_STOCK} -> {stock}; orders {orders}, bags sold {sold} -> {'EXACT' if exact else 'MISMATCH'}"
    )
    return 0 if exact else 1


def run(args: argparse.Namespace) -> int:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install -y wrk)")
    print(
        f"database: {args.database_url.split('@')[-1]}   redis: {args.redis_url}   "
        f"wrk 2 threads, {args.connections} connections, {args.duration:.0f} s, {args.rounds} round(s)"
    )
    print(
        f"one uvicorn worker per app; {os.cpu_count()} CPUs; {args.customers} customers; "
        f"Idempotency-Key {'on' if not args.no_key else 'off'}; shop LOG_LEVEL={args.log_level}"
    )
    sku_id, customers = prepare(args.database_url, args.redis_url, args.customers)
    start_stock, _, _ = stock_and_sold(args.database_url)
    results: dict[str, list[dict]] = {"ceiling": [], "checkout": []}
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
        for round_no in range(1, args.rounds + 1):
            for kind in ("ceiling", "checkout"):
                process, base = start(kind, args.database_url, args.redis_url, args.log_level)
                try:
                    if kind == "ceiling":
                        run_wrk(base + "/items", args.connections, 2)
                        result = run_wrk(base + "/items", args.connections, args.duration)
                    else:
                        workers = start_workers(args.relay_workers, args.database_url, args.redis_url)
                        try:
                            warm = write_script(Path(tmp), sku_id, customers, not args.no_key)
                            run_wrk(base, args.connections, 2, warm)
                            script = write_script(Path(tmp), sku_id, customers, not args.no_key)
                            lag = OutboxLag(args.database_url)
                            if workers:  # measure from a running relay: the warm-up's events are out
                                lag.until_drained()
                            with lag:
                                result = run_wrk(base, args.connections, args.duration, script)
                            result["outbox"] = {
                                **lag.summary(),
                                "drained_s": lag.until_drained() if workers else float("nan"),
                            }
                            lag.close()
                        finally:
                            for worker in workers:
                                worker.terminate()
                            for worker in workers:
                                worker.wait(timeout=15)
                finally:
                    process.terminate()
                    process.wait(timeout=15)
                results[kind].append(result)
                print(
                    f"  round {round_no} {kind:>8}: {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms"
                    f"  p99 {result['p99_ms']:6.1f} ms  failed {result['failed']}"
                )
                if "outbox" in result:
                    o = result["outbox"]
                    print(
                        f"           outbox ({args.relay_workers} relay worker(s)): pending max {o['max_pending']}"
                        f" last {o['last_pending']}; lag max {o['max_lag_s']:.2f} s last {o['last_lag_s']:.2f} s;"
                        f" drained {o['drained_s']:.2f} s after the load"
                    )
    stock, orders, sold = stock_and_sold(args.database_url)
    ceiling = statistics.median(r["rps"] for r in results["ceiling"])
    checkout = statistics.median(r["rps"] for r in results["checkout"])
    p99 = statistics.median(r["p99_ms"] for r in results["checkout"])
    failed = sum(r["failed"] for r in results["checkout"])
    counted = sum(r["requests"] for r in results["checkout"])
    print()
    print(
        f"ceiling (20-item list)   {ceiling:8.0f} req/s  p99 {statistics.median(r['p99_ms'] for r in results['ceiling']):6.1f} ms"
    )
    print(f"checkout (orders/s)      {checkout:8.0f} req/s  p99 {p99:6.1f} ms")
    ratio = checkout / ceiling
    print(f"ratio checkout/ceiling   {ratio:.3f}   (target >= 0.05)   p99 target < 100 ms")
    print(f"failed checkout requests {failed}")
    max_lag = max(r["outbox"]["max_lag_s"] for r in results["checkout"])
    max_pending = max(r["outbox"]["max_pending"] for r in results["checkout"])
    print(
        f"outbox lag during checkout: max {max_lag:.2f} s, max {max_pending} events pending"
        f"   (target < 2 s; {args.relay_workers} relay worker(s))"
    )
    exact = start_stock - stock == sold == orders
    print(
        f"stock {start_stock} -> {stock}: fell by {start_stock - stock}; orders {orders}, bags sold {sold}; "
        f"measured responses {counted} (+ warm-ups)  -> {'EXACT' if exact else 'MISMATCH'}"
    )
    ok = exact and failed == 0 and ratio >= 0.05 and p99 < 100 and (max_lag < 2 or not args.relay_workers)
    print("verdict:", "targets met" if ok else "targets NOT met")
    return 0 if exact and failed == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    serve_p = sub.add_parser("serve-ceiling", help="(internal) serve the bare FastAPI ceiling")
    serve_p.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (max 60)")
    parser.add_argument("--rounds", type=int, default=2, help="ceiling/checkout pairs, alternated (max 5)")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--no-key", action="store_true", help="send no Idempotency-Key")
    parser.add_argument(
        "--relay-workers",
        type=int,
        default=1,
        help="`daoxiang worker` processes relaying the outbox (0: none)",
    )
    parser.add_argument("--log-level", default="INFO", help="the shop's LOG_LEVEL (INFO logs every request)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile checkout in-process instead of loading a server"
    )
    parser.add_argument("--profile-requests", type=int, default=1280, help="checkouts per profiled phase")
    args = parser.parse_args()
    if args.command == "serve-ceiling":
        serve_ceiling(args.port)
        return 0
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        raise SystemExit("refusing to drop a database whose name does not contain 'bench'")
    args.duration = max(1.0, min(args.duration, 60.0))
    args.rounds = max(1, min(args.rounds, 5))
    args.connections = max(1, min(args.connections, 500))
    args.customers = max(1, min(args.customers, 100_000))
    return profile(args) if args.profile else run(args)


if __name__ == "__main__":
    sys.exit(main())
