"""Does the shop stay fast as its data grows?

Grows one database in steps with `daoxiang seed-scale` (each step adds the difference to the next size) and,
at every size, times the endpoints whose cost used to grow with the data (issue 18): the product list in
each sort and a search as catalogue-cache misses, the staff order list (first page, a page in the middle,
the next page by cursor), the staff dashboard `/admin/`, a batch's recall list and the orders export.
Requests go in-process through httpx's ASGI transport, one after another (the median of `--repeat`), so
the figures are the server's own time without the network; the cache is emptied before every catalogue
read (no Redis: a miss each time).

    python bench/data_scale.py                                   # 2k/10k/20k, then 10k/100k/1M
    python bench/data_scale.py --steps 1000:5000:10000,5000:50000:200000 --repeat 3
    python bench/data_scale.py --measure-only        # time the database as it is (no drop, no growth)
    BENCH_APP_ROOT=/path/to/old/checkout python bench/data_scale.py --measure-only   # old code, same data
    BENCH_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_scale python bench/data_scale.py

A step is products:orders:codes (totals, not increments). The database named in the URL is DROPPED and
created again first (it must be a scratch database; the default is daoxiang_bench_scale).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_APP_ROOT measures another checkout's code (e.g. the code before a change) with this script.
sys.path.insert(0, os.environ.get("BENCH_APP_ROOT", str(ROOT)))

DEFAULT_DB = "mysql+pymysql://root:@127.0.0.1:3306/daoxiang_bench_scale"
PASSWORD = "bench-Staff-2026!"
STAFF_PHONE = "13900139000"


def prepare(url: str) -> None:
    if url.startswith("mysql"):
        name = url.rsplit("/", 1)[1].split("?")[0]
        host = url.split("@", 1)[1].split("/", 1)[0]
        host_name, _, port = host.partition(":")
        subprocess.run(
            ["mariadb", "--protocol=tcp", "-h", host_name, "-P", port or "3306", "-uroot", "-e",
             f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` "
             "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"],
            check=True,
        )  # fmt: skip
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], check=True, cwd=ROOT)
    subprocess.run(
        [sys.executable, "-m", "app.cli", "create-admin", "--phone", STAFF_PHONE, "--password", PASSWORD],
        check=True,
        cwd=ROOT,
    )


def grow(products: int, orders: int, codes: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "app.cli", "seed-scale", "--products", str(products), "--orders", str(orders),
         "--codes", str(codes), "--seed", "18"],
        check=True,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


async def measure(repeat: int, full_export: bool = True) -> dict[str, float]:
    import httpx
    from sqlalchemy import func, select

    from app.catalog import cache
    from app.db import dispose_engine, session_scope
    from app.main import app
    from app.traceability.models import BatchAllocation

    async with session_scope() as session:
        batch_id = (
            await session.execute(
                select(BatchAllocation.batch_id)
                .group_by(BatchAllocation.batch_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    figures: dict[str, float] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=600) as client:
        login = await client.post("/api/auth/login", json={"phone": STAFF_PHONE, "password": PASSWORD})
        login.raise_for_status()
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        page = await client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        await client.post("/login", data={"phone": STAFF_PHONE, "password": PASSWORD, "csrf_token": token})

        async def timed(label: str, path: str, *, miss: bool = False, headers=None, params=None) -> None:
            samples = []
            for _ in range(repeat):
                if miss:
                    cache.clear_local()
                started = time.perf_counter()
                response = await client.get(path, headers=headers, params=params)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path} {params}: {response.status_code} {response.text[:300]}")
            figures[label] = statistics.median(samples)

        for sort in ("default", "newest", "sales", "price_asc"):
            params = {"page": 1, "size": 20} | ({} if sort == "default" else {"sort": sort})
            await timed(f"/api/products sort={sort}, miss", "/api/products", miss=True, params=params)
        await timed("search q=稻花香, miss", "/api/products", miss=True, params={"q": "稻花香"})
        await timed("search q=daohuaxiang, miss", "/api/products", miss=True, params={"q": "daohuaxiang"})
        await timed("search q=dhx (initials), miss", "/api/products", miss=True, params={"q": "dhx"})
        await timed("search q=米 (one character), miss", "/api/products", miss=True, params={"q": "米"})
        await timed(
            "search q=稻花香, page 50, miss", "/api/products", miss=True, params={"q": "稻花香", "page": 50}
        )
        category = (await client.get("/api/categories")).json()[0]["id"]
        await timed(
            "search q=稻花香 in a category, miss",
            "/api/products",
            miss=True,
            params={"q": "稻花香", "category_id": category},
        )
        await timed("staff dashboard /admin/", "/admin/")
        await timed("GET /api/admin/orders?page=1", "/api/admin/orders", headers=bearer)
        first = (await client.get("/api/admin/orders", headers=bearer)).json()
        middle = max(1, min(first["total"] // 40, 100_000 // 20))
        await timed(
            "GET /api/admin/orders, page in the middle",
            "/api/admin/orders",
            headers=bearer,
            params={"page": middle},
        )
        if first.get("next_cursor"):
            await timed(
                "GET /api/admin/orders, next page by cursor",
                "/api/admin/orders",
                headers=bearer,
                params={"after": first["next_cursor"]},
            )
        if batch_id is not None:
            await timed(
                "recall list of the busiest batch", f"/api/admin/batches/{batch_id}/orders", headers=bearer
            )
        # The direct export's first rows, from the streaming generator itself (httpx's ASGI transport
        # hands back a response only once the app has finished it, so it cannot show a first byte).
        from app.orders import service as orders_service

        started = time.perf_counter()
        stream = orders_service.export_csv(None, None)
        await anext(stream)  # the header line
        await anext(stream)  # the first chunk of orders
        figures["export.csv first rows (time to first byte)"] = (time.perf_counter() - started) * 1000
        await stream.aclose()
        await background_export(client, bearer, figures)

        if not full_export:
            await dispose_engine()
            return figures
        started = time.perf_counter()
        async with client.stream("GET", "/api/admin/orders/export.csv", headers=bearer) as response:
            rows = 0
            async for chunk in response.aiter_bytes():
                rows += chunk.count(b"\n")
        figures["export.csv without dates (all rows)"] = (time.perf_counter() - started) * 1000
        figures["export.csv rows"] = float(rows - 1)
    await dispose_engine()
    return figures


async def background_export(client, bearer: dict[str, str], figures: dict[str, float]) -> None:
    """A background export of every order, written the way `daoxiang worker` writes it (absent in code
    from before background exports)."""
    try:
        from app.orders import exports
    except ImportError:
        return
    started = await client.post("/api/admin/order-exports", json={"format": "csv"}, headers=bearer)
    started.raise_for_status()
    export_id = started.json()["id"]
    began = time.perf_counter()
    await exports.run_one()
    figures["background export.csv, start to done (all rows)"] = (time.perf_counter() - began) * 1000
    done = (await client.get(f"/api/admin/order-exports/{export_id}", headers=bearer)).json()
    figures["background export rows"] = float(done["rows_done"])
    # The file itself is not kept: remove it (and the export's record stays, as after any export).
    from app.config import get_settings

    for path in (get_settings().private_files_dir / "exports").glob(f"{export_id}-*"):
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="2000:10000:20000,10000:100000:1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--measure-only", action="store_true", help="time the database as it is")
    parser.add_argument(
        "--no-full-export",
        action="store_true",
        help="leave out the whole direct export (minutes at 1M orders)",
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("APP_ENV", "dev")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.measure_only:
        figures = asyncio.run(measure(args.repeat, full_export=not args.no_full_export))
        print("| endpoint (median ms, sequential, in-process) | now |\n|---|---|")
        for label, value in figures.items():
            print(f"| {label} | {value:,.0f} |" if "rows" in label else f"| {label} | {value:.1f} |")
        return
    prepare(url)

    have = (0, 0, 0)
    columns: list[tuple[str, dict[str, float]]] = []
    for step in args.steps.split(","):
        target = tuple(int(part) for part in step.split(":"))
        adding = [max(0, t - h) for t, h in zip(target, have, strict=True)]
        seconds = grow(*adding)
        have = target
        print(f"grew to {target[0]:,} products / {target[1]:,} orders / {target[2]:,} codes in {seconds:.0f} s",
              file=sys.stderr)  # fmt: skip
        figures = asyncio.run(measure(args.repeat))
        columns.append((f"{target[0] // 1000}k products / {target[1] // 1000}k orders / {target[2] // 1000}k codes",
                        figures))  # fmt: skip

    labels = list(columns[-1][1])
    print(
        "| endpoint (median ms, sequential, in-process) | " + " | ".join(name for name, _ in columns) + " |"
    )
    print("|---|" + "---|" * len(columns))
    for label in labels:
        cells = []
        for _, figures in columns:
            value = figures.get(label)
            cells.append("–" if value is None else (f"{value:,.0f}" if "rows" in label else f"{value:.1f}"))
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
