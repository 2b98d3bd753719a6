"""A flash-sale rush against the framework's ceiling (issue 19).

2,000 distinct buyers (pre-made tokens and addresses) rush one sale of 100 bags with a limit of 1 each, on
MariaDB + Redis with one uvicorn worker (`daoxiang serve`'s app, the Redis gate in front of the database).
Expected: exactly 100 orders; every other answer 409 `sold_out` or `flash_sale_limit_reached`; no 5xx; the
sale's remaining, the SKU's stock and the Redis gate agree afterwards.

The load: every buyer sends one `POST /api/flash-sales/{id}/orders` (Bearer token, Idempotency-Key), over
`--connections` keep-alive connections at once, from a small asyncio HTTP/1.1 client in this process
(cheaper per request than httpx; wrk cannot send each request once with its own token and stop). Measured:
answers per second over the rush and the p50/p99 latency. The ceiling is the same bare FastAPI endpoint as
bench/read_path.py (wrk, 2 threads, 50 connections), measured in the same run; for comparison the ceiling
is also loaded with this script's client (same connections) so both ratios are printed.

    python bench/flash_sale.py
    python bench/flash_sale.py --rounds 3 --buyers 2000 --quantity 100 --connections 100
    python bench/flash_sale.py --profile     # CPU per answer in-process (no HTTP server), then cProfiled
    BENCH_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_flash \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/13 python bench/flash_sale.py

The database named in the URL is dropped and rebuilt (it must be a bench database); the Redis database is
flushed. Targets: ratio >= 0.3 of the ceiling, p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import ceiling_app, free_port, run_wrk, wait_until_up  # noqa: E402

DEFAULT_DB = "mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_flash"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
BENCH_SECRET = "bench-secret-key-0123456789abcdef-0123456789"
START_STOCK = 100_000
RATIO_TARGET = 0.3
P99_TARGET_MS = 100.0
ALLOWED_REFUSALS = {"sold_out", "flash_sale_limit_reached"}


def serve(kind: str, port: int) -> None:
    import uvicorn

    target = ceiling_app() if kind == "ceiling" else "app.main:app"
    uvicorn.run(target, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def shop_env(args: argparse.Namespace, media: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": BENCH_SECRET,
        "APP_ENV": "dev",
        "LOG_LEVEL": "WARNING",
        "MEDIA_DIR": media,
        # Rounds reuse the buyers, whose flash orders stay unpaid: the unpaid-order limits out of the way.
        "MAX_UNPAID_ORDERS_PER_CUSTOMER": "1000000",
        "MAX_UNPAID_UNITS_PER_SKU": "1000000",
    }


def _sync_url(url: str) -> str:
    return re.sub(r"^mysql(\+\w+)?://", "mysql+pymysql://", url)


def prepare(args: argparse.Namespace, env: dict[str, str]) -> tuple[int, str, list[tuple[str, int]]]:
    """Fresh schema, `--buyers` customers with an address each, a staff member, one product with one SKU.
    Returns (sku id, staff token, [(buyer token, address id)])."""
    from sqlalchemy import create_engine, make_url, text

    url = make_url(_sync_url(args.database_url))
    server = create_engine(url.set(database=""))
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{url.database}`"))
        conn.execute(
            text(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    server.dispose()
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    buyers = args.buyers
    staff_id = buyers + 1
    engine = create_engine(url)
    now = "2026-11-30 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, phone, password_hash, nickname, role, is_active, created_at, updated_at)"
                " VALUES (:id, :phone, 'x', :nick, :role, 1, :now, :now)"
            ),
            [
                {"id": i, "phone": f"139{i:08d}", "nick": f"买家{i}", "role": "customer", "now": now}
                for i in range(1, buyers + 1)
            ]
            + [{"id": staff_id, "phone": "13700000000", "nick": "店员", "role": "merchant", "now": now}],
        )
        conn.execute(
            text(
                "INSERT INTO addresses (id, user_id, recipient, phone, province, city, district, detail,"
                " is_default, created_at, updated_at) VALUES (:id, :id, '张三', '13912345678', '黑龙江省',"
                " '哈尔滨市', '五常市', '民乐乡 1 号', 1, :now, :now)"
            ),
            [{"id": i, "now": now} for i in range(1, buyers + 1)],
        )
        conn.execute(
            text(
                "INSERT INTO products (id, name, subtitle, description, origin, variety, grade, storage_advice,"
                " status, sales_count, sort_weight, min_price_fen, created_at, updated_at)"
                " VALUES (1, '五常大米 稻花香2号', '', '', '黑龙江五常', '稻花香2号', '', '', 'published', 0, 0,"
                " 5990, :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO skus (id, product_id, name, price_fen, stock, weight_g, is_active, sort_order,"
                " created_at, updated_at) VALUES (1, 1, '5kg 真空包装', 5990, :stock, 5000, 1, 0, :now, :now)"
            ),
            {"stock": START_STOCK, "now": now},
        )
    engine.dispose()
    os.environ.update(env)
    from app.config import get_settings

    get_settings.cache_clear()
    from app.users.security import create_access_token

    tokens = [(create_access_token(i, "customer")[0], i) for i in range(1, buyers + 1)]
    return 1, create_access_token(staff_id, "merchant")[0], tokens


def start(kind: str, env: dict[str, str], probe: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", kind, "--port", str(port)], cwd=ROOT, env=env, text=True
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, base, probe, kind, timeout=120)  # a busy shared machine starts slowly
    return process, base


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ----------------------------------------------------------------------------------------- the load


class Answer:
    __slots__ = ("status", "body", "seconds")

    def __init__(self, status: int, body: bytes, seconds: float) -> None:
        self.status, self.body, self.seconds = status, body, seconds


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def rush(host: str, port: int, requests: list[bytes], connections: int) -> tuple[list[Answer], float]:
    """Every request once, over `connections` keep-alive connections; (answers, seconds from first to
    last)."""
    queue = list(reversed(requests))
    answers: list[Answer] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                request = queue.pop()
                began = time.perf_counter()
                status, body = await _exchange(reader, writer, request)
                answers.append(Answer(status, body, time.perf_counter() - began))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return answers, time.perf_counter() - started


def _request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def buy_requests(sale_id: int, buyers: list[tuple[str, int]], keys: bool) -> list[bytes]:
    return [
        _request(
            "POST",
            f"/api/flash-sales/{sale_id}/orders",
            orjson.dumps({"address_id": address_id, "quantity": 1}),
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                **({"Idempotency-Key": str(uuid.uuid4())} if keys else {}),
            },
        )
        for token, address_id in buyers
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ----------------------------------------------------------------------------------------- checks


def create_sale(base: str, staff_token: str, sku_id: int, quantity: int) -> int:
    import httpx

    start_at = datetime.now(UTC) - timedelta(seconds=5)
    response = httpx.post(
        base + "/api/admin/flash-sales",
        json={
            "sku_id": sku_id,
            "price_fen": 3990,
            "quantity": quantity,
            "per_customer_limit": 1,
            "starts_at": start_at.isoformat(),
            "ends_at": (start_at + timedelta(hours=1)).isoformat(),
        },
        headers={"Authorization": f"Bearer {staff_token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["id"]


def records(args: argparse.Namespace, sale_id: int) -> dict[str, object]:
    """What the database and the gate say after the rush."""
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(_sync_url(args.database_url))
    with engine.connect() as conn:
        remaining = conn.execute(
            text("SELECT remaining FROM flash_sales WHERE id = :id"), {"id": sale_id}
        ).scalar_one()
        orders, units = conn.execute(
            text(
                "SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM flash_sale_purchases"
                " WHERE sale_id = :id AND released_at IS NULL"
            ),
            {"id": sale_id},
        ).one()
        stock = conn.execute(text("SELECT stock FROM skus WHERE id = 1")).scalar_one()
    engine.dispose()
    client = redis.Redis.from_url(args.redis_url)
    base = f"daoxiang:flash:{{{sale_id}}}"
    gate_remaining = client.hget(base, "remaining")
    gate_held = sum(int(v) for v in client.hgetall(base + ":held").values())
    client.close()
    return {
        "remaining": int(remaining),
        "orders": int(orders),
        "units": int(units),
        "stock": int(stock),
        "gate_remaining": int(gate_remaining) if gate_remaining is not None else None,
        "gate_held": gate_held,
    }


def run(args: argparse.Namespace) -> int:
    media = tempfile.mkdtemp(prefix="daoxiang-bench-media-")
    env = shop_env(args, media)
    print(f"database: {args.database_url.split('@')[-1]}   redis: {args.redis_url.split('@')[-1]}")
    print(
        f"{args.buyers} buyers, one sale of {args.quantity} (limit 1 each), {args.connections} connections,"
        f" {'without' if args.without_keys else 'with'} Idempotency-Keys;"
        f" ceiling: wrk 2 threads, 50 connections, {args.duration:.0f} s (+2 s warm-up)"
    )
    print(f"one uvicorn worker per app; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    sku_id, staff_token, buyers = prepare(args, env)
    ok = True
    results: dict[str, list[float]] = {"ceiling": [], "ceiling_client": [], "rush": [], "p50": [], "p99": []}
    sold = 0
    for round_no in range(1, args.rounds + 1):
        process, base = start("ceiling", env, "/items")
        try:
            run_wrk(base + "/items", 50, 2)
            ceiling = run_wrk(base + "/items", 50, args.duration)
            host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
            same = [_request("GET", "/items")] * len(buyers)
            _, seconds = asyncio.run(rush(host, port, same, args.connections))
        finally:
            stop(process)
        results["ceiling"].append(ceiling["rps"])
        results["ceiling_client"].append(len(buyers) / seconds)

        process, base = start("shop", env, "/api/health")
        try:
            sale_id = create_sale(base, staff_token, sku_id, args.quantity)
            host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
            # Warm-up: the buyers' tokens are verified once each on a cheap authenticated read.
            asyncio.run(
                rush(
                    host,
                    port,
                    [
                        _request("GET", "/api/users/me", headers={"Authorization": f"Bearer {t}"})
                        for t, _ in buyers
                    ],
                    args.connections,
                )
            )
            answers, seconds = asyncio.run(
                rush(host, port, buy_requests(sale_id, buyers, not args.without_keys), args.connections)
            )
        finally:
            stop(process)
        sold += args.quantity
        latencies = [a.seconds * 1000 for a in answers]
        created = sum(1 for a in answers if a.status == 201)
        refusals: dict[str, int] = {}
        unexpected = 0
        for a in answers:
            if a.status == 201:
                continue
            code = orjson.loads(a.body).get("code") if a.status == 409 else None
            if code in ALLOWED_REFUSALS:
                refusals[code] = refusals.get(code, 0) + 1
            else:
                unexpected += 1
        server_errors = sum(1 for a in answers if a.status >= 500)
        state = records(args, sale_id)
        rps = len(answers) / seconds
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        results["rush"].append(rps)
        results["p50"].append(p50)
        results["p99"].append(p99)
        agree = (
            created == args.quantity
            and state["orders"] == args.quantity
            and state["remaining"] == 0
            and state["gate_remaining"] == state["remaining"]
            and state["gate_held"] == state["units"]
            and state["stock"] == START_STOCK - sold
        )
        ok &= agree and unexpected == 0 and server_errors == 0 and len(answers) == len(buyers)
        print(
            f"  round {round_no}: ceiling {ceiling['rps']:7.0f} req/s (wrk; this client {results['ceiling_client'][-1]:.0f})"
            f"  rush {rps:7.0f} answers/s in {seconds:.2f} s  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms"
        )
        placed = [a.seconds * 1000 for a in answers if a.status == 201] or [0.0]
        refused = [a.seconds * 1000 for a in answers if a.status != 201] or [0.0]
        print(
            f"           p99 of the orders {percentile(placed, 0.99):.1f} ms,"
            f" of the refusals {percentile(refused, 0.99):.1f} ms"
        )
        print(
            f"           201: {created}  409: {refusals}  other: {unexpected}  5xx: {server_errors}  "
            f"db: {state}  {'consistent' if agree else 'INCONSISTENT'}"
        )

    rush_rps = statistics.median(results["rush"])
    ratio = rush_rps / statistics.median(results["ceiling"])
    ratio_client = rush_rps / statistics.median(results["ceiling_client"])
    p99 = statistics.median(results["p99"])
    passed = ratio >= RATIO_TARGET and p99 < P99_TARGET_MS
    print()
    print(f"ceiling (wrk)          {statistics.median(results['ceiling']):8.0f} req/s")
    print(f"ceiling (this client)  {statistics.median(results['ceiling_client']):8.0f} req/s")
    print(
        f"flash-sale rush        {rush_rps:8.0f} answers/s  p50 {statistics.median(results['p50']):.1f} ms  p99 {p99:.1f} ms"
    )
    print(
        f"ratio to the ceiling   {ratio:.2f} (wrk)  {ratio_client:.2f} (same client)   target >= {RATIO_TARGET}"
        f" and p99 < {P99_TARGET_MS:.0f} ms: {'yes' if passed else 'NO'}"
    )
    print(f"correctness: {'every round exact' if ok else 'FAILED'}")
    shutil.rmtree(media, ignore_errors=True)
    return 0 if ok and passed else 1


def profile(args: argparse.Namespace) -> int:
    """The shop's ASGI app in this process (no HTTP server, no client in between): CPU per answer over a
    rush, measured plainly on one sale, then again under cProfile on a second sale. Only this process's CPU
    is counted (not MariaDB's or Redis's)."""
    import cProfile
    import json
    import pstats

    media = tempfile.mkdtemp(prefix="daoxiang-bench-media-")
    env = shop_env(args, media)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    sku_id, staff_token, buyers = prepare(args, env)
    from app.main import app

    async def call(
        method: str, path: str, token: str, body: bytes = b"", key: str | None = None
    ) -> tuple[int, bytes]:
        headers = [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ]
        if key is not None:
            headers.append((b"idempotency-key", key.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        status: list[int] = []
        chunks: list[bytes] = []
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
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status[0], b"".join(chunks)

    async def new_sale() -> int:
        start_at = datetime.now(UTC) - timedelta(seconds=5)
        body = json.dumps(
            {
                "sku_id": sku_id,
                "price_fen": 3990,
                "quantity": args.quantity,
                "per_customer_limit": 1,
                "starts_at": start_at.isoformat(),
                "ends_at": (start_at + timedelta(hours=1)).isoformat(),
            }
        ).encode()
        status, answer = await call("POST", "/api/admin/flash-sales", staff_token, body)
        assert status == 201, answer
        return orjson.loads(answer)["id"]

    async def one_rush(sale_id: int) -> tuple[float, dict[int, int]]:
        queue = list(reversed(buyers))
        counts: dict[int, int] = {}

        async def connection() -> None:
            while queue:
                token, address_id = queue.pop()
                body = orjson.dumps({"address_id": address_id, "quantity": 1})
                key = None if args.without_keys else str(uuid.uuid4())
                status, _ = await call("POST", f"/api/flash-sales/{sale_id}/orders", token, body, key)
                counts[status] = counts.get(status, 0) + 1

        cpu = time.process_time()
        await asyncio.gather(*(connection() for _ in range(args.connections)))
        return time.process_time() - cpu, counts

    async def run_all() -> None:
        for token, _ in buyers:  # warm-up: tokens verified once, auth states cached
            await call("GET", "/api/users/me", token)
        cpu, counts = await one_rush(await new_sale())
        print(f"plain:     {len(buyers)} answers {counts}: {cpu / len(buyers) * 1e6:.0f} us CPU each")
        sale_id = await new_sale()
        profiler = cProfile.Profile()
        profiler.enable()
        cpu, counts = await one_rush(sale_id)
        profiler.disable()
        print(f"profiled:  {len(buyers)} answers {counts}: {cpu / len(buyers) * 1e6:.0f} us CPU each")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(50)

    asyncio.run(run_all())
    shutil.rmtree(media, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    serve_p = sub.add_parser("serve", help="(internal) serve the ceiling or the shop")
    serve_p.add_argument("kind", choices=["ceiling", "shop"])
    serve_p.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--quantity", type=int, default=100)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5, help="seconds of the wrk ceiling measurement")
    parser.add_argument("--rounds", type=int, default=1, help="ceiling/rush rounds (max 5)")
    parser.add_argument(
        "--without-keys",
        action="store_true",
        help="send no Idempotency-Key (a refusal at the gate then needs no database at all)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="CPU per answer in-process (no HTTP server), then cProfiled"
    )
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.kind, args.port)
        return 0
    args.rounds = max(1, min(args.rounds, 5))
    args.buyers = max(args.quantity, min(args.buyers, 20_000))
    args.connections = max(1, min(args.connections, 500))
    args.duration = max(1.0, min(args.duration, 60.0))
    return profile(args) if args.profile else run(args)


if __name__ == "__main__":
    sys.exit(main())
