"""How close is the catalogue's read path to the framework's ceiling?

Starts, one at a time, each with one uvicorn worker (same uvicorn settings):
  ceiling  a bare FastAPI app whose one endpoint returns a 20-item JSON list (product-list-shaped dicts)
  shop     the real app (`app.main:app`) on MariaDB + Redis, migrated and seeded with the demo shop
and loads each with the same tool and settings (wrk: 2 threads, 50 connections, 10 s after a 2 s warm-up;
a bounded httpx generator in its own process when wrk is missing). Loopback only.

Measured: the ceiling, the shop's product list page (`/api/products?page=1&size=20`) and a product detail
(`/api/products/{id}`, live stock overlaid on every read). Printed: req/s and p99 for each, and the ratios to
the ceiling. Targets: list >= 0.5, detail >= 0.6, p99 < 25 ms.

    python bench/read_path.py
    python bench/read_path.py --duration 5 --rounds 1
    BENCH_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_catalog \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/2 python bench/read_path.py
    python bench/read_path.py --profile-path /api/products/1   # cProfile the shop's read path in-process

It creates (if missing) the database named in the URL and migrates it; the demo seed is idempotent.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import ceiling_app, free_port, run_wrk, wait_until_up  # noqa: E402
from db_sync_vs_async import load_with_httpx  # noqa: E402

DEFAULT_DB = "mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_catalog"
DEFAULT_REDIS = "redis://127.0.0.1:6379/2"
TARGETS = {"list": 0.5, "detail": 0.6}
P99_TARGET_MS = 25.0


def serve(kind: str, port: int) -> None:
    import uvicorn

    target = ceiling_app() if kind == "ceiling" else "app.main:app"
    uvicorn.run(target, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def profile(args: argparse.Namespace, env: dict[str, str]) -> None:
    """cProfile the shop's ASGI app in this process: 2,000 requests, 50 at a time, no HTTP server in between
    (uvicorn's own cost is the same for the ceiling and the shop)."""
    import asyncio
    import cProfile
    import pstats

    os.environ.update(env)
    from app.main import app

    path, _, query = args.profile_path.partition("?")

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"localhost")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        status = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    async def run_all() -> None:
        assert await call() == 200, f"{args.profile_path} does not answer 200"

        async def worker() -> None:
            for _ in range(40):
                await call()

        await asyncio.gather(*(worker() for _ in range(50)))  # warm-up: connections, caches
        profiler = cProfile.Profile()
        started, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        await asyncio.gather(*(worker() for _ in range(50)))
        profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{args.profile_path}: 2000 requests, {cpu / 2000 * 1e6:.0f} us CPU each (profiled), {elapsed:.1f} s"
        )
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

    asyncio.run(run_all())


def shop_env(args: argparse.Namespace, media: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        APP_ENV="dev",
        LOG_LEVEL="WARNING",
        MEDIA_DIR=media,
    )
    return env


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    from sqlalchemy import create_engine, make_url, text

    url = make_url(re.sub(r"^mysql(\+\w+)?://", "mysql+pymysql://", args.database_url))
    server = create_engine(url.set(database=""))
    with server.begin() as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4"))
    server.dispose()
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run(
            [sys.executable, "-m", "app.cli", *command], cwd=ROOT, env=env, check=True, timeout=300
        )


def first_product_id(base: str) -> int:
    import httpx

    items = httpx.get(base + "/api/products?sort=sales", timeout=5).json()["items"]
    if not items:
        raise SystemExit("the seeded shop has no products")
    return items[0]["id"]


def start(kind: str, env: dict[str, str], probe: str) -> tuple[subprocess.Popen, str]:

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", kind, "--port", str(port)],
        cwd=ROOT,
        env=env,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, base, probe, kind)
    return process, base


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err or ""


def run(args: argparse.Namespace) -> int:
    tool = "wrk" if shutil.which("wrk") and not args.httpx else "httpx"
    load = run_wrk if tool == "wrk" else load_with_httpx
    media = tempfile.mkdtemp(prefix="daoxiang-bench-media-")
    env = shop_env(args, media)
    print(f"database: {args.database_url.split('@')[-1]}   redis: {args.redis_url.split('@')[-1]}")
    print(f"load: {tool}, 2 threads, {args.connections} connections, {args.duration:.0f} s (+2 s warm-up)")
    print(f"one uvicorn worker per app; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    prepare(args, env)

    if args.profile_path:
        profile(args, env)
        return 0

    results: dict[str, list[dict]] = {"ceiling": [], "list": [], "detail": []}
    for round_no in range(1, args.rounds + 1):
        process, base = start("ceiling", env, "/items")
        try:
            load(base + "/items", args.connections, 2)
            results["ceiling"].append(load(base + "/items", args.connections, args.duration))
        finally:
            stop(process)
        process, base = start("shop", env, "/api/products")
        try:
            paths = {
                "list": "/api/products?page=1&size=20",
                "detail": f"/api/products/{first_product_id(base)}",
            }
            for name, path in paths.items():
                load(base + path, args.connections, 2)
                results[name].append(load(base + path, args.connections, args.duration))
        finally:
            stop(process)
        for name in results:
            r = results[name][-1]
            print(
                f"  round {round_no} {name:>8}: {r['rps']:8.0f} req/s  p99 {r['p99_ms']:6.1f} ms"
                f"  errors {r['errors']} {r['socket_errors']}"
            )

    rps = {k: statistics.median(r["rps"] for r in v) for k, v in results.items()}
    p99 = {k: statistics.median(r["p99_ms"] for r in v) for k, v in results.items()}
    print()
    print(f"{'':10}{'req/s':>10}{'p99 ms':>10}{'ratio':>9}  target")
    ok = True
    for name in ("ceiling", "list", "detail"):
        ratio = rps[name] / rps["ceiling"]
        if name == "ceiling":
            print(f"{name:10}{rps[name]:10.0f}{p99[name]:10.1f}{ratio:9.2f}  (baseline)")
            continue
        passed = ratio >= TARGETS[name] and p99[name] < P99_TARGET_MS
        ok &= passed
        print(
            f"{name:10}{rps[name]:10.0f}{p99[name]:10.1f}{ratio:9.2f}  >= {TARGETS[name]:.1f} and p99 < "
            f"{P99_TARGET_MS:.0f} ms: {'yes' if passed else 'NO'}"
        )
    shutil.rmtree(media, ignore_errors=True)
    return 0 if ok else 1


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
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (max 60)")
    parser.add_argument("--rounds", type=int, default=1, help="ceiling/shop rounds (max 5)")
    parser.add_argument(
        "--profile-path", help="cProfile the shop in-process for this path instead, e.g. /api/products/1"
    )
    parser.add_argument(
        "--httpx", action="store_true", help="use the httpx load generator even if wrk exists"
    )
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.kind, args.port)
        return 0
    args.duration = max(1.0, min(args.duration, 60.0))
    args.rounds = max(1, min(args.rounds, 5))
    args.connections = max(1, min(args.connections, 500))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
