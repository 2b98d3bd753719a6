"""Scale-out on one machine with real engines (issue 23, point 4; docs/scaling.md reports its last run).

    .venv/bin/python bench/cluster.py                 up, checks, mixed load, figures, down
    .venv/bin/python bench/cluster.py --keep          leave everything running afterwards (then: --down)
    .venv/bin/python bench/cluster.py --down          stop what a kept run left
    bench/cluster.sh ...                              the same (sets up the .venv first)

Starts (bench/cluster_infra.py): a 3-node MariaDB Galera cluster, a Redis Cluster of three masters, nginx
balancing 3 shop processes (least connections, no stickiness: tokens are bearer JWTs, nothing lives in a
process), each shop process on its own Galera node, 2 workers and an event consumer. Then, through nginx:

1. 48 buyers for 10 bags: exactly 10 orders, 38 `out_of_stock`, stock 0 on every node, no 5xx;
2. one Idempotency-Key sent 30 times at once across the processes: one order;
3. a flash sale of 20 units for 100 buyers: exactly 20 orders;
4. pay-deadline timeouts by two workers on different nodes: every order cancelled once, stock back exactly;
5. a mixed load (browse 80 %, cart 10 %, checkout 5 %, trace scan 5 %): throughput, p50/p99, errors.

Prints every figure and writes them to var/cluster-last-run.json. Needs root (apt-get install of galera-4, nginx,
rsync when missing; mariadbd runs as the mysql user).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster_infra as infra  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BASE_URL = f"http://127.0.0.1:{infra.NGINX_PORT}"
SHOP_PORTS = [18101, 18102, 18103]
DB = "daoxiang"
ADMIN_PHONE, ADMIN_PASSWORD = "13900000001", "cluster-admin-pass-1"


def shop_env(node: int, base: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "TEST_"))},
        "DATABASE_URL": f"mysql+pymysql://root:@127.0.0.1:{infra.SQL_PORTS[node]}/{DB}",
        "REDIS_URL": f"redis://127.0.0.1:{infra.REDIS_PORTS[node]}/0",
        "REDIS_CLUSTER": "true",
        "APP_ENV": "dev",
        "SECRET_KEY": "cluster-bench-secret-key-0123456789abcdef",
        "PAYMENT_SANDBOX_SECRET": "cluster-sandbox-secret",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRUST_FORWARDED_FOR": "true",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "ORDER_PAY_TIMEOUT_MINUTES": "0.25",
        "FLASH_SALE_PAY_TIMEOUT_MINUTES": "0.25",
        "WORKER_INTERVAL_SECONDS": "1",
        "REGISTER_MAX_PER_NETWORK": "1000000",
        "LOGIN_MAX_PHONES_PER_NETWORK": "1000000",
        "MAX_UNPAID_ORDERS_PER_CUSTOMER": "1000000",
        "MAX_UNPAID_UNITS_PER_SKU": "1000000",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(base / f"shop{node + 1}"),
    }


def spawn(name: str, args: list[str], env: dict[str, str], base: Path) -> None:
    (base / "pids").mkdir(parents=True, exist_ok=True)
    out = open(base / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        [PY, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (base / "pids" / f"{name}.pid").write_text(str(process.pid))


def stop_spawned(base: Path) -> None:
    for pidfile in sorted((base / "pids").glob("*.pid")) if (base / "pids").exists() else []:
        infra._stop_pidfile(pidfile, pidfile.stem, seconds=5)


def up(base: Path) -> None:
    infra.wipe(base)
    base.mkdir(parents=True)
    infra.galera_up(base)
    infra.redis_up(base)
    infra.sql(0, f"CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    env0 = shop_env(0, base)
    subprocess.run([PY, "-m", "app.cli", "migrate"], cwd=ROOT, env=env0, check=True, capture_output=True)
    subprocess.run(
        [PY, "-m", "app.cli", "create-admin", "--phone", ADMIN_PHONE, "--password", ADMIN_PASSWORD],
        cwd=ROOT,
        env=env0,
        check=True,
        capture_output=True,
    )
    infra.log("migrated on node 1 (DDL replicated by total order isolation); admin created")
    for i, port in enumerate(SHOP_PORTS):
        spawn(f"shop{i + 1}", ["serve", "--host", "127.0.0.1", "--port", str(port)], shop_env(i, base), base)
    for i in range(2):
        spawn(f"worker{i + 1}", ["worker"], shop_env(i + 1, base), base)  # on nodes 2 and 3
    spawn("consumer", ["consume"], shop_env(0, base), base)
    for port in SHOP_PORTS:
        infra.wait_until(
            f"shop on {port}",
            lambda port=port: (
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()["redis"] == "ok"
            ),
            90,
        )
    infra.nginx_up(base, SHOP_PORTS)
    infra.log("3 shop processes (one per Galera node), 2 workers, 1 consumer, nginx: up")


def down(base: Path) -> None:
    infra.nginx_down(base)
    stop_spawned(base)
    infra.redis_down(base)
    infra.galera_down(base)


# ------------------------------------------------------------------------------------------ the shop's API


class Shop:
    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        self.http = httpx.AsyncClient(base_url=BASE_URL, timeout=30, limits=limits)

    async def login(self, phone: str, password: str) -> dict[str, str]:
        r = await self.http.post("/api/auth/login", json={"phone": phone, "password": password})
        r.raise_for_status()
        return {"Authorization": "Bearer " + r.json()["access_token"]}

    async def buyer(self) -> tuple[dict[str, str], int]:
        phone = "17" + "".join(random.choices("0123456789", k=9))
        r = await self.http.post(
            "/api/users", json={"phone": phone, "password": "buyer-pass-123", "nickname": "买家"}
        )
        r.raise_for_status()
        auth = await self.login(phone, "buyer-pass-123")
        r = await self.http.post(
            "/api/users/me/addresses",
            headers=auth,
            json={
                "recipient": "张三",
                "phone": phone,
                "province": "黑龙江省",
                "city": "哈尔滨市",
                "district": "五常市",
                "detail": "稻香路 1 号",
                "is_default": True,
            },
        )
        r.raise_for_status()
        return auth, r.json()["id"]

    async def product(self, admin: dict[str, str], stock: int) -> tuple[int, int]:
        cats = (await self.http.get("/api/categories")).json()
        if not cats:
            r = await self.http.post("/api/admin/categories", headers=admin, json={"name": "五常大米"})
            r.raise_for_status()
            category_id = r.json()["id"]
        else:
            category_id = cats[0]["id"]
        r = await self.http.post(
            "/api/admin/products",
            headers=admin,
            json={
                "name": f"五常大米 稻花香2号 {uuid.uuid4().hex[:6]}",
                "subtitle": "",
                "description": "集群测试",
                "category_id": category_id,
                "origin": "五常",
                "variety": "稻花香2号",
                "status": "published",
                "skus": [{"name": "5kg", "price_fen": 9900, "stock": stock, "weight_g": 5000}],
            },
        )
        r.raise_for_status()
        return r.json()["id"], r.json()["skus"][0]["id"]


def stock_on_every_node(sku_id: int) -> list[int]:
    return [infra.sql(i, f"SELECT stock FROM skus WHERE id = {sku_id}", DB)[0][0] for i in range(3)]


async def check_no_oversell(shop: Shop, admin: dict[str, str]) -> dict:
    _, sku = await shop.product(admin, stock=10)
    buyers = [await shop.buyer() for _ in range(48)]
    results = await asyncio.gather(
        *(
            shop.http.post(
                "/api/orders",
                headers=auth,
                json={"address_id": address, "items": [{"sku_id": sku, "quantity": 1}]},
            )
            for auth, address in buyers
        )
    )
    codes = [r.status_code for r in results]
    problems = [r.json().get("code") for r in results if r.status_code != 201]
    stocks = stock_on_every_node(sku)
    orders = infra.sql(0, f"SELECT COUNT(*) FROM order_items WHERE sku_id = {sku}", DB)[0][0]
    ok = codes.count(201) == 10 and orders == 10 and stocks == [0, 0, 0] and not any(c >= 500 for c in codes)
    infra.log(
        f"48 buyers for 10 bags: {codes.count(201)} orders, refusals {sorted(set(problems))}, "
        f"stock per node {stocks}, order lines {orders}: {'OK' if ok else 'FAILED'}"
    )
    return {
        "ok": ok,
        "orders": codes.count(201),
        "refusals": {p: problems.count(p) for p in set(problems)},
        "stock_per_node": stocks,
    }


async def check_idempotency(shop: Shop, admin: dict[str, str]) -> dict:
    _, sku = await shop.product(admin, stock=100)
    auth, address = await shop.buyer()
    key = uuid.uuid4().hex
    body = {"address_id": address, "items": [{"sku_id": sku, "quantity": 1}]}
    results = await asyncio.gather(
        *(
            shop.http.post("/api/orders", headers={**auth, "Idempotency-Key": key}, json=body)
            for _ in range(30)
        )
    )
    ids = {r.json()["id"] for r in results if r.status_code == 201}
    others = sorted({r.json().get("code") for r in results if r.status_code != 201})
    retry = await shop.http.post("/api/orders", headers={**auth, "Idempotency-Key": key}, json=body)
    ok = (
        len(ids) == 1
        and retry.status_code == 201
        and retry.json()["id"] in ids
        and not any(r.status_code >= 500 for r in results)
    )
    infra.log(
        f"one Idempotency-Key 30 times at once: {len(ids)} order(s), others {others}, "
        f"retry afterwards → {retry.status_code}: {'OK' if ok else 'FAILED'}"
    )
    return {"ok": ok, "distinct_orders": len(ids), "other_answers": others}


async def check_flash_sale(shop: Shop, admin: dict[str, str]) -> dict:
    _, sku = await shop.product(admin, stock=200)
    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))  # noqa: E731
    r = await shop.http.post(
        "/api/admin/flash-sales",
        headers=admin,
        json={
            "sku_id": sku,
            "price_fen": 990,
            "quantity": 20,
            "per_customer_limit": 1,
            "starts_at": iso(now - 5),
            "ends_at": iso(now + 3600),
        },
    )
    r.raise_for_status()
    sale = r.json()["id"]
    buyers = [await shop.buyer() for _ in range(100)]
    results = await asyncio.gather(
        *(
            shop.http.post(
                f"/api/flash-sales/{sale}/orders", headers=auth, json={"address_id": address, "quantity": 1}
            )
            for auth, address in buyers
        )
    )
    codes = [r.status_code for r in results]
    orders = infra.sql(
        1,
        f"SELECT COUNT(*) FROM orders WHERE kind = 'flash_sale' AND id IN "
        f"(SELECT order_id FROM order_items WHERE sku_id = {sku})",
        DB,
    )[0][0]
    remaining = [
        infra.sql(i, f"SELECT remaining FROM flash_sales WHERE id = {sale}", DB)[0][0] for i in range(3)
    ]
    ok = (
        codes.count(201) == 20
        and orders == 20
        and remaining == [0, 0, 0]
        and not any(c >= 500 for c in codes)
    )
    infra.log(
        f"flash sale of 20 for 100 buyers: {codes.count(201)} orders ({orders} in the database), "
        f"remaining per node {remaining}: {'OK' if ok else 'FAILED'}"
    )
    return {"ok": ok, "orders": codes.count(201), "remaining_per_node": remaining}


async def check_timeouts(shop: Shop, admin: dict[str, str]) -> dict:
    _, sku = await shop.product(admin, stock=30)
    buyers = [await shop.buyer() for _ in range(10)]
    results = await asyncio.gather(
        *(
            shop.http.post(
                "/api/orders",
                headers=auth,
                json={"address_id": address, "items": [{"sku_id": sku, "quantity": 3}]},
            )
            for auth, address in buyers
        )
    )
    ids = [r.json()["id"] for r in results if r.status_code == 201]
    deadline = time.monotonic() + 120
    cancelled: int = 0
    while time.monotonic() < deadline:
        cancelled = infra.sql(
            2,
            f"SELECT COUNT(*) FROM orders WHERE id IN ({','.join(map(str, ids))}) AND status = 'cancelled'",
            DB,
        )[0][0]
        if cancelled == len(ids):
            break
        await asyncio.sleep(1)
    moves = infra.sql(
        0,
        f"SELECT COUNT(*) FROM order_history WHERE order_id IN ({','.join(map(str, ids))}) "
        "AND to_status = 'cancelled'",
        DB,
    )[0][0]
    await asyncio.sleep(1)
    stocks = stock_on_every_node(sku)
    ok = len(ids) == 10 and cancelled == 10 and moves == 10 and stocks == [30, 30, 30]
    infra.log(
        f"timeouts: {len(ids)} unpaid orders, {cancelled} cancelled by the workers, {moves} cancellations "
        f"recorded, stock per node {stocks}: {'OK' if ok else 'FAILED'}"
    )
    return {
        "ok": ok,
        "orders": len(ids),
        "cancelled": cancelled,
        "cancellations": moves,
        "stock_per_node": stocks,
    }


async def mixed_load(shop: Shop, admin: dict[str, str], seconds: float, concurrency: int) -> dict:
    product, sku = await shop.product(admin, stock=1_000_000)
    r = await shop.http.post(
        "/api/admin/producers",
        headers=admin,
        json={"name": "五常稻香合作社", "region": "黑龙江省五常市", "license_no": "JY123"},
    )
    r.raise_for_status()
    r = await shop.http.post(
        "/api/admin/batches",
        headers=admin,
        json={
            "product_id": product,
            "producer_id": r.json()["id"],
            "variety": "稻花香2号",
            "plot": "民乐乡 3 号地",
            "harvested_on": "2026-10-01",
            "milled_on": "2026-10-20",
            "quantity_kg": 5000,
        },
    )
    r.raise_for_status()
    r = await shop.http.post(f"/api/admin/batches/{r.json()['id']}/codes", headers=admin, json={"count": 200})
    r.raise_for_status()
    codes = r.json()["codes"]
    buyers = [await shop.buyer() for _ in range(concurrency)]
    latencies: dict[str, list[float]] = {"browse": [], "cart": [], "checkout": [], "scan": []}
    statuses: dict[int, int] = {}
    stop = time.monotonic() + seconds

    async def one_user(auth: dict[str, str], address: int) -> None:
        while time.monotonic() < stop:
            roll = random.random()
            if roll < 0.80:
                kind, call = "browse", shop.http.get(f"/api/products?page={random.randint(1, 3)}&size=20")
            elif roll < 0.90:
                kind, call = (
                    "cart",
                    shop.http.put(f"/api/cart/items/{sku}", headers=auth, json={"quantity": 1}),
                )
            elif roll < 0.95:
                kind, call = (
                    "checkout",
                    shop.http.post(
                        "/api/orders",
                        headers=auth,
                        json={"address_id": address, "items": [{"sku_id": sku, "quantity": 1}]},
                    ),
                )
            else:
                kind, call = (
                    "scan",
                    shop.http.get(
                        f"/api/trace/{random.choice(codes)}",
                        headers={"User-Agent": f"phone-{random.randint(1, 5)}"},
                    ),
                )
            started = time.perf_counter()
            try:
                response = await call
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            except httpx.HTTPError:
                statuses[0] = statuses.get(0, 0) + 1
            latencies[kind].append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(one_user(auth, address) for auth, address in buyers))
    elapsed = time.monotonic() - started
    every = sorted(x for values in latencies.values() for x in values)
    q = statistics.quantiles(every, n=100) if len(every) > 100 else [0.0] * 99
    figures = {
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "requests": len(every),
        "requests_per_second": round(len(every) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "by_kind": {k: len(v) for k, v in latencies.items()},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors_5xx": sum(v for k, v in statuses.items() if k >= 500 or k == 0),
    }
    infra.log(
        f"mixed load: {figures['requests_per_second']} req/s over {figures['seconds']} s, "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, statuses {figures['statuses']}"
    )
    return figures


async def run_checks(load_seconds: float, concurrency: int) -> dict:
    shop = Shop()
    try:
        admin = await shop.login(ADMIN_PHONE, ADMIN_PASSWORD)
        results = {
            "no_oversell": await check_no_oversell(shop, admin),
            "idempotency": await check_idempotency(shop, admin),
            "flash_sale": await check_flash_sale(shop, admin),
            "timeouts": await check_timeouts(shop, admin),
        }
        results["mixed_load"] = await mixed_load(shop, admin, load_seconds, concurrency)
        conflicts = [infra._status(i, "wsrep_local_cert_failures") for i in range(3)]
        aborts = [infra._status(i, "wsrep_local_bf_aborts") for i in range(3)]
        results["galera"] = {
            "cert_failures_per_node": conflicts,
            "bf_aborts_per_node": aborts,
            "cluster_size": infra._status(0, "wsrep_cluster_size"),
        }
        infra.log(f"Galera certification failures per node {conflicts}, brute-force aborts {aborts}")
        return results
    finally:
        await shop.http.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=Path, default=Path("/tmp/daoxiang-cluster"))
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument("--down", action="store_true", help="stop a kept cluster and exit")
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=48)
    args = parser.parse_args()
    if args.down:
        down(args.base)
        return 0
    started = time.monotonic()
    try:
        up(args.base)
        results = asyncio.run(run_checks(args.load_seconds, args.concurrency))
    finally:
        if not args.keep:
            down(args.base)
    results["machine"] = {
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "total_seconds": round(time.monotonic() - started),
    }
    out = ROOT / "var" / "cluster-last-run.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    infra.log(f"figures written to {out}")
    checks = [results[k]["ok"] for k in ("no_oversell", "idempotency", "flash_sale", "timeouts")]
    return 0 if all(checks) and results["mixed_load"]["errors_5xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
