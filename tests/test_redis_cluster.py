"""The shop on a Redis Cluster (REDIS_CLUSTER=true; docs/scaling.md): three real masters started here, and the
request paths that run scripts or transactions over several keys (the trace scan and its log, the flash-sale
gate, the login throttle), the catalogue cache and the event stream, each used through the app. On a cluster a
script whose keys sit in different slots fails with CROSSSLOT: these pass only because the keys share a tag."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.cluster import RedisCluster as SyncRedisCluster

from app import redis as app_redis
from app.catalog import cache
from app.db import session_scope
from app.eventbus.relay import STREAM_NAME, relay_once
from app.redis import close_redis, get_redis, hash_tag
from app.traceability import scans
from tests.catalog.factories import create_product
from tests.conftest import settings
from tests.flash_sales.factories import buy, create_flash_sale
from tests.orders.factories import sku_on_sale
from tests.traceability.factories import create_batch, create_codes
from tests.users.factories import create_address, create_user

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(n: int) -> list[int]:
    """Ports whose cluster bus port (port + 10000) is free too, so both below 65536."""
    ports: list[int] = []
    while len(ports) < n:
        port = random.randint(21000, 29000)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory) -> Iterator[list[int]]:
    """Three masters with every slot assigned (`redis-cli --cluster create`), stopped after the module."""
    base: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = _free_ports(3)
    for port in ports:
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(base / f"nodes-{port}.conf"),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(base),
                "--pidfile",
                str(base / f"{port}.pid"),
                "--logfile",
                str(base / f"{port}.log"),
            ],
            check=True,
        )
    try:
        for port in ports:
            for _ in range(100):
                try:
                    if SyncRedis(port=port).ping():
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.05)
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
        )
        for _ in range(100):
            if b"cluster_state:ok" in SyncRedis(port=ports[0]).execute_command("CLUSTER INFO"):
                break
            time.sleep(0.1)
        yield ports
    finally:
        for port in ports:
            subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)


@pytest.fixture
async def on_cluster(cluster_ports, monkeypatch) -> Iterator[SyncRedisCluster]:
    await close_redis()
    await cache.close()
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{cluster_ports[1]}/0")
    monkeypatch.setattr(settings, "redis_cluster", True)
    # The trace keys' names are fixed at import; on a cluster they carry the tag.
    monkeypatch.setattr(scans, "PREFIX", "daoxiang:{trace}:")
    monkeypatch.setattr(scans, "LOG_KEY", "daoxiang:{trace}:log")
    monkeypatch.setattr(scans, "FLUSHING_PREFIX", "daoxiang:{trace}:flushing:")
    direct = SyncRedisCluster(host="127.0.0.1", port=cluster_ports[0])
    direct.flushall()
    try:
        yield direct
    finally:
        direct.flushall()
        direct.close()
        # redis-py's asyncio cluster client can hold a node connection whose transport belongs to a loop
        # that is gone by now ("Event loop is closed" when it is closed); forgetting it is enough here.
        with contextlib.suppress(RuntimeError):
            await close_redis()
        with contextlib.suppress(RuntimeError):
            await cache.close()
        app_redis._client = None
        cache._redis = None


def on_cluster_ports(cluster: SyncRedisCluster) -> list[int]:
    return [node.port for node in cluster.get_primaries()]


def test_a_tag_only_on_a_cluster(monkeypatch):
    monkeypatch.setattr(settings, "redis_cluster", False)
    assert hash_tag("trace") == "trace"
    monkeypatch.setattr(settings, "redis_cluster", True)
    assert hash_tag("trace") == "{trace}"


async def test_trace_scans_count_and_flush_exactly_on_a_cluster(on_cluster, client):
    batch = await create_batch()
    [code] = await create_codes(batch, 1)
    for i in range(6):
        response = await client.get(f"/api/trace/{code}", headers={"User-Agent": f"phone-{i % 2}"})
        assert response.status_code == 200, response.text
    assert response.json()["scan_count"] == 6
    assert on_cluster.exists("daoxiang:{trace}:log")  # the scans went through the cluster
    assert await scans.flush() >= 1
    response = await client.get(f"/api/trace/{code}", headers={"User-Agent": "phone-0"})
    assert response.json()["scan_count"] == 7


async def test_the_flash_sale_gate_on_a_cluster_sells_exactly_the_quantity(on_cluster, client):
    sale = await create_flash_sale(await sku_on_sale(stock=10), quantity=2)
    answers = []
    for _ in range(4):
        user = await create_user()
        answers.append(await buy(client, user, await create_address(user), sale))
    assert [a.status_code for a in answers].count(201) == 2
    assert {a.json()["code"] for a in answers if a.status_code != 201} == {"sold_out"}
    gate_keys = [
        k for port in on_cluster_ports(on_cluster) for k in SyncRedis(port=port).keys("daoxiang:flash:*")
    ]
    assert gate_keys and all(b"{" in k for k in gate_keys)  # the gate lives on the cluster, one slot per sale


async def test_login_throttle_and_catalogue_cache_on_a_cluster(on_cluster, client):
    user = await create_user(phone="13811112222")
    codes = []
    for _ in range(8):
        r = await client.post(
            "/api/auth/login", json={"phone": "13811112222", "password": "wrong-password-1"}
        )
        codes.append(r.status_code)
    assert codes[0] == 401 and 429 in codes  # the throttle's transaction ran on the cluster
    assert user.id
    await create_product(name="五常大米 集群")
    first = await client.get("/api/products")
    second = await client.get("/api/products")
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    assert sum(SyncRedis(port=port).dbsize() for port in on_cluster_ports(on_cluster)) > 0


async def test_events_are_published_to_the_stream_on_a_cluster(on_cluster, client):
    from app.users.models import Role
    from tests.catalog.factories import create_category
    from tests.users.factories import auth

    staff = auth(await create_user(role=Role.merchant))
    category = await create_category()
    for name in ("五常大米 一号", "五常大米 二号"):
        r = await client.post(
            "/api/admin/products",
            headers=staff,
            json={
                "name": name,
                "category_id": category.id,
                "status": "published",
                "skus": [{"name": "5kg", "price_fen": 9900, "stock": 5, "weight_g": 5000}],
            },
        )
        assert r.status_code == 201, r.text
    async with session_scope() as session:
        published = await relay_once(session, get_redis())
    assert published >= 2
    assert on_cluster.xlen(STREAM_NAME) == published
