"""How close is a trace scan (`GET /api/trace/{code}`) to the framework's ceiling, and is every scan counted?

Starts, one at a time, each with one uvicorn worker (same settings as bench/read_path.py):
  ceiling  the bare FastAPI app of bench/common.py (a 20-item JSON list)
  shop     the real app on MariaDB + Redis, migrated, seeded with the demo shop, plus 50 fresh codes of one batch
and loads each with wrk (2 threads, 50 connections, a 2 s warm-up then `--duration` s); on the shop the 50
connections scan the 50 codes in turn (a Lua script rotates the path). Rounds alternate ceiling and shop;
the figures are the medians over the rounds.

Then the count is checked: the worker's flush (`daoxiang worker --once`) brings the scans from Redis to the
database, and the scans counted for the 50 codes are compared with the responses wrk received (wrk does not
count the requests still in flight when it stops: at most one per connection, per run). An exact check
follows: exactly `--exact` scans sent by httpx, 50 at a time, must add exactly that many to the database.

Targets: ratio >= 0.5, p99 < 15 ms, 0 failed requests, counted == sent.

    python bench/trace_scan.py                         # 3 rounds, 10 s each
    python bench/trace_scan.py --rounds 1 --duration 3  # a quick proof that it works
    python bench/trace_scan.py --profile                # cProfile the scan path in-process (50 codes in turn)
    BENCH_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_trace \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/3 python bench/trace_scan.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import run_wrk  # noqa: E402
from read_path import prepare, profile, shop_env, start, stop  # noqa: E402

DEFAULT_DB = "mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_trace"
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"
TARGET_RATIO = 0.5
P99_TARGET_MS = 15.0
CODES = 50

_ISSUE_CODES = """
import asyncio, json
from sqlalchemy import select
from app.db import session_scope
from app.traceability import service
from app.traceability import issuing as trace_issuing
from app.traceability.models import Batch

async def main():
    async with session_scope() as session:
        batch_id = (await session.execute(select(Batch.id).order_by(Batch.id).limit(1))).scalar_one()
        codes = await trace_issuing.issue_codes(session, batch_id, %d)
    print(json.dumps(codes))

asyncio.run(main())
"""

_COUNTED = """
import asyncio, json, sys
from sqlalchemy import func, select
from app.db import session_scope
from app.traceability.models import TraceCode

async def main():
    async with session_scope() as session:
        total = (await session.execute(
            select(func.coalesce(func.sum(TraceCode.scan_count), 0)).where(TraceCode.code.in_(json.loads(sys.argv[1])))
        )).scalar_one()
    print(int(total))

asyncio.run(main())
"""


def _python(code: str, env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1]


def issue_codes(env: dict[str, str]) -> list[str]:
    return json.loads(_python(_ISSUE_CODES % CODES, env))


def flush_and_count(env: dict[str, str], codes: list[str]) -> int:
    subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    return int(_python(_COUNTED, env, json.dumps(codes)))


def rotating_script(codes: list[str]) -> str:
    """A wrk script: each request scans the next code of the 50."""
    paths = ", ".join(f'"/api/trace/{c}"' for c in codes)
    text = f"""
local paths = {{{paths}}}
local i = 0
request = function()
  i = (i % #paths) + 1
  return wrk.format("GET", paths[i], {{["User-Agent"] = "bench-scanner"}})
end
"""
    handle, path = tempfile.mkstemp(prefix="daoxiang-trace-", suffix=".lua")
    with os.fdopen(handle, "w") as f:
        f.write(text)
    return path


async def _exact(base: str, codes: list[str], n: int) -> int:
    """Exactly `n` scans, 50 at a time; returns how many answered 200."""
    import httpx

    ok = 0
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        queue = list(range(n))

        async def worker() -> None:
            nonlocal ok
            while queue:
                i = queue.pop()
                response = await client.get(f"/api/trace/{codes[i % len(codes)]}")
                ok += response.status_code == 200

        await asyncio.gather(*(worker() for _ in range(50)))
    return ok


def run(args: argparse.Namespace) -> int:
    media = tempfile.mkdtemp(prefix="daoxiang-bench-media-")
    env = shop_env(args, media)
    print(f"database: {args.database_url.split('@')[-1]}   redis: {args.redis_url.split('@')[-1]}")
    print(
        f"load: wrk, 2 threads, {args.connections} connections over {CODES} codes, {args.duration:.0f} s (+2 s warm-up)"
    )
    print(f"one uvicorn worker per app; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    prepare(args, env)
    codes = issue_codes(env)
    if args.profile:
        args.profile_path = None
        profile(args, env, [f"/api/trace/{c}" for c in codes])
        return 0
    script = rotating_script(codes)
    results: dict[str, list[dict]] = {"ceiling": [], "scan": []}
    received = 0
    for round_no in range(1, args.rounds + 1):
        process, base = start("ceiling", env, "/items")
        try:
            run_wrk(base + "/items", args.connections, 2)
            results["ceiling"].append(run_wrk(base + "/items", args.connections, args.duration))
        finally:
            stop(process)
        process, base = start("shop", env, f"/api/trace/{codes[0]}")
        received += 1  # the probe
        try:
            warm = run_wrk(base + "/", args.connections, 2, script)
            measured = run_wrk(base + "/", args.connections, args.duration, script)
            results["scan"].append(measured)
            received += warm["requests"] + measured["requests"]
            failed = warm["failed"] + measured["failed"]
        finally:
            stop(process)
        for name in results:
            r = results[name][-1]
            print(
                f"  round {round_no} {name:>8}: {r['rps']:8.0f} req/s  p99 {r['p99_ms']:6.1f} ms"
                f"  failed {r['failed']} {r['socket_errors']}"
            )
        if failed:
            print(f"  round {round_no}: {failed} failed scan requests")

    counted = flush_and_count(env, codes)
    in_flight = counted - received
    print(f"\nscans answered to wrk: {received}; counted in the database after the flush: {counted}")
    print(
        f"  difference {in_flight} (requests in flight when wrk stopped; at most {args.connections * args.rounds * 2})"
    )

    process, base = start("shop", env, f"/api/trace/{codes[0]}")
    try:
        ok = asyncio.run(_exact(base, codes, args.exact))
    finally:
        stop(process)
    after = flush_and_count(env, codes)
    exact = after - counted - 1  # the probe
    print(f"exact check: {args.exact} scans sent, {ok} answered 200, {exact} added to the database")

    rps = {k: statistics.median(r["rps"] for r in v) for k, v in results.items()}
    p99 = {k: statistics.median(r["p99_ms"] for r in v) for k, v in results.items()}
    failed_total = sum(r["failed"] for r in results["scan"])
    ratio = rps["scan"] / rps["ceiling"]
    print()
    print(f"{'':10}{'req/s':>10}{'p99 ms':>10}{'ratio':>9}  target")
    print(f"{'ceiling':10}{rps['ceiling']:10.0f}{p99['ceiling']:10.1f}{1.0:9.2f}  (baseline)")
    passed = (
        ratio >= TARGET_RATIO
        and p99["scan"] < P99_TARGET_MS
        and failed_total == 0
        and exact == ok == args.exact
        and 0 <= in_flight <= args.connections * args.rounds * 2
    )
    print(
        f"{'scan':10}{rps['scan']:10.0f}{p99['scan']:10.1f}{ratio:9.2f}  >= {TARGET_RATIO} and p99 < "
        f"{P99_TARGET_MS:.0f} ms, 0 failed, counted == sent: {'yes' if passed else 'NO'}"
    )
    os.unlink(script)
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (max 60)")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling/shop rounds (max 5)")
    parser.add_argument("--exact", type=int, default=2000, help="scans of the exact count check")
    parser.add_argument("--profile", action="store_true", help="cProfile the scan path in-process instead")
    args = parser.parse_args()
    args.duration = max(1.0, min(args.duration, 60.0))
    args.rounds = max(1, min(args.rounds, 5))
    args.connections = max(1, min(args.connections, 500))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
