"""What does METRICS_TOKEN cost per request? The same app with and without metrics, in one process.

Builds two apps (`create_app()` with METRICS_TOKEN unset and set) on one migrated demo shop (a temporary
SQLite file unless BENCH_DATABASE_URL is given), then calls each directly through ASGI (no server, no
client: only the app's own cost) in interleaved rounds, so that a busy machine slows both alike. Printed:
the median µs per request of each and the ratio on/off, for the product detail and the list (fast paths).

    python bench/metrics_cost.py
    python bench/metrics_cost.py --rounds 20 --requests 2000

`bench/read_path.py` with METRICS_TOKEN set in its environment measures the same through uvicorn and wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _call(app, path: str, n: int) -> float:
    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: dict) -> None:
        pass

    started = time.perf_counter()
    for _ in range(n):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
    return (time.perf_counter() - started) / n * 1e6


async def measure(rounds: int, requests: int) -> None:
    from app.config import get_settings
    from app.main import create_app

    settings = get_settings()
    settings.metrics_token = None
    off = create_app()
    settings.metrics_token = "bench"
    on = create_app()
    print(f"load average {os.getloadavg()[0]:.1f}; {rounds} interleaved rounds of {requests} requests")
    for path in ("/api/products/1", "/api/products"):
        for app in (off, on):
            await _call(app, path, requests // 4)  # warm: caches, first statements
        times: dict[str, list[float]] = {"off": [], "on": []}
        for round_no in range(rounds):  # alternating which goes first, so drift favours neither
            for name in ("off", "on") if round_no % 2 == 0 else ("on", "off"):
                times[name].append(await _call(off if name == "off" else on, path, requests))
        off_us, on_us = statistics.median(times["off"]), statistics.median(times["on"])
        print(f"{path:18} off {off_us:8.1f} µs/req   on {on_us:8.1f} µs/req   on/off {on_us / off_us:.3f}")
    # What metrics add to a request, timed alone: steadier than the difference of two noisy figures.
    from app.kit import metrics

    scope = {"method": "GET", metrics.ROUTE_KEY: "/api/products/{product_id}"}
    n = 100_000
    started = time.perf_counter()
    for _ in range(n):
        metrics.record_request(scope, 200, 0.004)
    alone = (time.perf_counter() - started) / n * 1e6
    print(
        f"record_request alone: {alone:.2f} µs per request ({alone / off_us:.2%} of the last request above)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=800)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="daoxiang-bench-metrics-")
    os.environ.setdefault(
        "DATABASE_URL", os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{work}/shop.db"
    )
    os.environ.setdefault("MEDIA_DIR", f"{work}/media")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("METRICS_TOKEN", None)
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run([sys.executable, "-m", "app.cli", *command], cwd=ROOT, check=True, capture_output=True)
    asyncio.run(measure(args.rounds, args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
