"""Fault drills (issue 17): what a crash or an outage costs, measured on real processes.

Run: FAULT_DRILLS=1 TEST_DATABASE_URL=mysql+pymysql://... TEST_REDIS_URL=redis://... pytest tests/faults -s
Each drill prints its figures: requests, answers by kind, seconds to recover."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import socket
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.events import STREAM_NAME, OutboxEvent
from app.orders.models import Order, OrderItem
from app.payments.models import Payment
from app.payments.providers import sandbox
from tests.faults import infra
from tests.orders.factories import customer, sku_on_sale, stock_of
from tests.users.factories import auth

pytestmark = pytest.mark.faults

LIVE_STATUSES = ("pending_payment", "paid", "shipped", "completed")


async def _outbox_counts(event_type: str) -> tuple[int, int]:
    """(rows of this type, of which published)."""
    async with session_scope() as session:
        total = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == event_type)
        )
        published = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == event_type, OutboxEvent.published_at.is_not(None))
        )
    return int(total or 0), int(published or 0)


async def _until_all_published(limit_s: float = 60) -> float:
    started = time.monotonic()
    while True:
        async with session_scope() as session:
            pending = await session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            )
        if not pending:
            return time.monotonic() - started
        assert time.monotonic() - started < limit_s, f"{pending} events still unpublished"
        await asyncio.sleep(0.1)


async def _stream_ids() -> list[str]:
    from app.redis import get_redis

    redis = get_redis()
    assert redis is not None
    entries = await redis.xrange(STREAM_NAME)
    return [json.loads(fields[b"event"])["id"] for _id, fields in entries]


# ------------------------------------------------------------------------------ kill -9 of the server


async def test_kill_9_of_the_server_under_checkout_with_key_retries(drill_dir: Path):
    start_stock = 100_000
    sku = await sku_on_sale(stock=start_stock)
    buyers = [await customer() for _ in range(16)]
    server = infra.server(drill_dir)
    relay = infra.worker(drill_dir)
    server.start()
    relay.start(wait=False)
    tally = infra.Tally()
    stop = asyncio.Event()
    confirmed: dict[str, int] = {}  # Idempotency-Key -> order id of its 201
    retries = Counter()
    keys = itertools.count()

    async def buyer(user, address) -> None:
        body = {"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1 + len(confirmed) % 3}]}
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                key = f"drill-{next(keys)}-{secrets.token_hex(4)}"
                while True:  # the same key again until the shop gives an answer that settles it
                    response = await infra.request(
                        client,
                        tally,
                        "checkout",
                        "POST",
                        "/api/orders",
                        json=body,
                        headers={**auth(user), "Idempotency-Key": key},
                    )
                    if response is not None and response.status_code == 201:
                        order_id = response.json()["id"]
                        assert confirmed.setdefault(key, order_id) == order_id
                        break
                    settled = response is not None and response.status_code < 500
                    if settled and not (
                        response.status_code == 409 and "request_in_progress" in response.text
                    ):
                        # Anything but "still running" or a server-side failure is final: retrying it would
                        # loop for ever (a refusal such as too_many_unpaid_orders is not a fault).
                        raise AssertionError(f"checkout answered {response.status_code}: {response.text}")
                    retries[infra.kind_of(response) if response is not None else "connection"] += 1
                    await asyncio.sleep(0.05)  # 409 request_in_progress, 503, connection refused: retry

    tasks = [asyncio.create_task(buyer(u, a)) for u, a in buyers]
    recoveries = []
    try:
        for _ in range(2):
            await infra.until(stop, 2.5)
            server.kill()
            killed_at = tally.now()
            server.start()
            recovered_at = None
            while recovered_at is None:
                answered = [e for e in tally.events if e[1] > killed_at and e[3] == "201"]
                recovered_at = answered[0][1] if answered else None
                await asyncio.sleep(0.05)
            recoveries.append(recovered_at - killed_at)
        await infra.until(stop, 2.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=False)
        drained = await _until_all_published()
        relay.stop()
        server.stop()

    async with session_scope() as session:
        orders = (await session.scalars(select(Order))).all()
        live_units = await session.scalar(
            select(func.coalesce(func.sum(OrderItem.quantity), 0))
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status.in_(LIVE_STATUSES))
        )
    stock = await stock_of(sku.id)
    created, published = await _outbox_counts("order.created")
    stream = Counter(await _stream_ids())
    infra.report(
        "kill -9 of the server under checkout (Idempotency-Key retries)",
        customers=len(buyers),
        kills=2,
        requests=sum(tally.kinds.values()),
        answers=tally.kinds,
        retried_keys_by_cause=retries,
        orders=len(orders),
        seconds_from_kill_to_next_201=", ".join(f"{r:.2f}" for r in recoveries),
        stock=f"{start_stock} -> {stock} (+ {live_units} units in live orders)",
        order_created_events=f"{created}, published {published}, outbox drained {drained:.2f} s after the load",
    )
    assert stock + live_units == start_stock
    assert {o.id for o in orders} == set(confirmed.values())  # every 201 is an order, every order a 201
    assert len(confirmed) == len(orders)  # one order per key, however often it was retried
    assert created == published == len(orders)
    created_ids = set()
    async with session_scope() as session:
        created_ids = set(
            (
                await session.scalars(select(OutboxEvent.event_id).where(OutboxEvent.type == "order.created"))
            ).all()
        )
    assert created_ids <= set(stream)
    assert not any(kind.startswith("checkout 500") for kind in tally.kinds)


# ------------------------------------------------------------------------------ kill -9 of the worker


async def test_kill_9_of_the_worker_mid_relay_loses_no_event(drill_dir: Path):
    from sqlalchemy import insert

    from app.events import outbox_row

    backlog = 10_000
    payload = {"role": "customer", "registered_at": "2026-11-25T13:05:00+00:00"}
    async with session_scope() as session:
        await session.execute(
            insert(OutboxEvent),
            [
                outbox_row("user.registered", {"user_id": i, **payload}, subject=f"user/{i}")
                for i in range(1, backlog + 1)
            ],
        )
    relay = infra.worker(drill_dir, EVENT_RELAY_BATCH_SIZE="500")
    killed_at_published = []
    started = time.monotonic()
    for fraction, delay in ((0.15, 0.0), (0.4, 0.04), (0.65, 0.08)):
        relay.start(wait=False)
        while True:
            _, published = await _outbox_counts("user.registered")
            if published >= fraction * backlog:
                break
            assert relay.process.poll() is None, relay.log.read_text()[-2000:]
            await asyncio.sleep(0.005)
        await asyncio.sleep(delay)  # into the next batch: claimed, maybe published, not yet committed
        relay.kill()
        killed_at_published.append(published)
    relay.start(wait=False)
    try:
        await _until_all_published(limit_s=120)
    finally:
        relay.stop()
    seconds = time.monotonic() - started
    async with session_scope() as session:
        outbox_ids = set((await session.scalars(select(OutboxEvent.event_id))).all())
    stream = Counter(await _stream_ids())
    duplicates = sum(n - 1 for n in stream.values())
    infra.report(
        "kill -9 of the worker mid-relay",
        backlog=backlog,
        kills=len(killed_at_published),
        published_when_killed=", ".join(map(str, killed_at_published)),
        stream_entries=sum(stream.values()),
        published_twice=duplicates,
        seconds_to_publish_all_with_restarts=seconds,
    )
    assert outbox_ids <= set(stream)  # nothing lost
    assert duplicates <= 3 * 500  # at most one batch per kill published again


# ------------------------------------------------------------------------ Redis stopped under load


async def test_redis_stopped_frozen_and_restarted_under_load(drill_dir: Path):
    redis = infra.PrivateRedis(drill_dir)
    redis.start()
    sku = await sku_on_sale(stock=100_000)
    buyers = [await customer() for _ in range(6)]
    server = infra.server(drill_dir, REDIS_URL=redis.url)
    relay = infra.worker(drill_dir, REDIS_URL=redis.url)
    server.start()
    relay.start(wait=False)
    tally = infra.Tally()
    stop = asyncio.Event()
    health = Counter()

    async def shopper(user, address) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                await infra.request(client, tally, "catalogue", "GET", "/api/products")
                await infra.request(client, tally, "catalogue", "GET", f"/api/products/{sku.product_id}")
                body = {"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]}
                await infra.request(
                    client,
                    tally,
                    "checkout",
                    "POST",
                    "/api/orders",
                    json=body,
                    headers={**auth(user), "Idempotency-Key": secrets.token_hex(8)},
                )

    async def login_timer(phases: dict[str, list[float]], phase: list[str]) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            while not stop.is_set():
                started = time.monotonic()
                await client.post(
                    "/api/auth/login", json={"phone": "13000000000", "password": "wrong-pass-123"}
                )
                phases.setdefault(phase[0], []).append(time.monotonic() - started)
                response = await client.get("/api/health")
                health[f"{phase[0]}: redis {response.json()['redis']}"] += 1
                await asyncio.sleep(0.2)

    phase = ["up"]
    login_times: dict[str, list[float]] = {}
    tasks = [asyncio.create_task(shopper(u, a)) for u, a in buyers]
    tasks.append(asyncio.create_task(login_timer(login_times, phase)))
    try:
        await infra.until(stop, 2)
        phase[0] = "stopped"
        redis.stop()
        stopped_at = tally.now()
        await infra.until(stop, 3)
        redis.start()
        phase[0] = "back"
        back_at = tally.now()
        await infra.until(stop, 2)
        phase[0] = "frozen"
        redis.freeze()
        await infra.until(stop, 4)
        redis.thaw()
        phase[0] = "thawed"
        await infra.until(stop, 2)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        try:
            drained = await _until_all_published()
        finally:
            relay.stop()
            server.stop()
            redis.stop()
    worst_login = {name: max(times) for name, times in login_times.items()}
    infra.report(
        "Redis stopped, restarted, then frozen (SIGSTOP 4 s) under load",
        requests=sum(tally.kinds.values()),
        answers=tally.kinds,
        answers_while_stopped=tally.kinds_between(stopped_at, back_at),
        slowest_login_by_phase=", ".join(f"{k} {v:.2f} s" for k, v in worst_login.items()),
        health=health,
        outbox_drained_after_the_load_s=drained,
    )
    failures = {k: v for k, v in tally.kinds.items() if not k.endswith((" 200", " 201"))}
    assert failures == {}
    assert any(k.startswith("stopped: redis down") for k in health)
    assert worst_login.get("frozen", 0) < 2.5  # was 6 s per login (2 s timeout x 3 retries)


# --------------------------------------------------------------- a private MariaDB stopped under load


async def _seed_private_shop(url: str) -> tuple[int, list[tuple[str, int]]]:
    """One SKU and customers with an address each, on the private database. Returns (sku id, [(token,
    address id)])."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.catalog.models import Product, Sku
    from app.config import normalize_database_url
    from app.db import utcnow
    from app.users import security
    from app.users.models import Address, User

    engine = create_async_engine(normalize_database_url(url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            product = Product(name="五常大米 稻花香2号", status="published", published_at=utcnow())
            session.add(product)
            await session.flush()
            sku = Sku(product_id=product.id, name="5kg", price_fen=5990, stock=1_000_000, weight_g=5000)
            session.add(sku)
            users = [
                User(
                    phone=f"1390000{i:04d}",
                    password_hash="x",
                    nickname="演练",
                    role="customer",
                    is_active=True,
                )
                for i in range(8)
            ]
            session.add_all(users)
            await session.flush()
            addresses = [
                Address(
                    user_id=u.id,
                    recipient="李四",
                    phone="13912345678",
                    province="黑龙江省",
                    city="哈尔滨市",
                    district="五常市",
                    detail="1 号",
                    is_default=True,
                )
                for u in users
            ]
            session.add_all(addresses)
            await session.flush()
            await session.commit()
            return sku.id, [
                (security.create_access_token(u.id, u.role)[0], a.id)
                for u, a in zip(users, addresses, strict=True)
            ]
    finally:
        await engine.dispose()


def _two_requests_on_one_connection(port: int) -> list[str]:
    """Status lines of two GETs sent one after the other on one keep-alive connection."""
    lines = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(b"GET /api/products HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = stream.readline().decode().strip()
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            stream.read(length)
            lines.append(status)
    return lines


async def test_a_private_mariadb_stopped_and_started_under_load(drill_dir: Path):
    if not infra.PrivateMariaDB.available():
        pytest.skip("mariadb-install-db / mariadbd not installed")
    from tests.ops.servers import run_cli

    db = infra.PrivateMariaDB(drill_dir)
    db.install()
    db.start()
    try:
        db.execute("CREATE DATABASE daoxiang CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        migrated = run_cli("migrate", DATABASE_URL=db.url(), REDIS_URL="")
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        sku_id, buyers = await _seed_private_shop(db.url())
        server = infra.server(drill_dir, DATABASE_URL=db.url(), REDIS_URL="")
        server.start()
        tally = infra.Tally()
        stop = asyncio.Event()

        async def shopper(token: str, address_id: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            body = {"address_id": address_id, "items": [{"sku_id": sku_id, "quantity": 1}]}
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
                while not stop.is_set():
                    key = {"Idempotency-Key": secrets.token_hex(8)}
                    await infra.request(
                        client,
                        tally,
                        "checkout",
                        "POST",
                        "/api/orders",
                        json=body,
                        headers={**headers, **key},
                    )
                    await infra.request(client, tally, "my orders", "GET", "/api/orders", headers=headers)
                    await infra.request(client, tally, "catalogue", "GET", "/api/products")
                    await infra.request(
                        client,
                        tally,
                        "login",
                        "POST",
                        "/api/auth/login",
                        json={"phone": "13900000000", "password": "wrong-pass-123"},
                    )
                    await asyncio.sleep(0.02)

        tasks = [asyncio.create_task(shopper(t, a)) for t, a in buyers]
        try:
            await infra.until(stop, 2)
            down_at = tally.now()
            await asyncio.to_thread(db.stop)
            stopped_at = tally.now()
            await infra.until(stop, 2.5)
            keep_alive = await asyncio.to_thread(_two_requests_on_one_connection, server.port)
            starting_at = tally.now()
            restart_took = await asyncio.to_thread(db.start)
            back_at = tally.now()
            await infra.until(stop, 4)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        # The shop idle, the database restarts; then the next checkouts (the case where 16 of 19 failed).
        await asyncio.to_thread(db.stop)
        await asyncio.to_thread(db.start)
        idle_tally = infra.Tally()
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
            for i in range(19):
                token, address_id = buyers[i % len(buyers)]
                await infra.request(
                    client,
                    idle_tally,
                    "checkout",
                    "POST",
                    "/api/orders",
                    json={"address_id": address_id, "items": [{"sku_id": sku_id, "quantity": 1}]},
                    headers={"Authorization": f"Bearer {token}"},
                )
        server.stop()
        log = server.log.read_text(errors="replace")
    finally:
        db.stop()

    # Sent and answered while the database was down (not those that outlived the outage).
    while_down = Counter(f"{e[2]} {e[3]}" for e in tally.events if stopped_at <= e[0] and e[1] < starting_at)
    after = tally.kinds_between(back_at, float("inf"))
    first_ok_after = min(
        (e[1] for e in tally.events if e[0] >= back_at and e[3] in ("200", "201")), default=None
    )
    infra.report(
        "a private MariaDB stopped and started under load",
        requests=sum(tally.kinds.values()),
        answers_while_stopping=tally.kinds_between(down_at, stopped_at),
        answers_while_down=while_down,
        answers_after_it_is_back=after,
        restart_seconds=restart_took,
        seconds_from_back_to_first_success=(first_ok_after - back_at) if first_ok_after else float("nan"),
        two_requests_on_one_connection_while_down=", ".join(keep_alive),
        checkouts_after_an_idle_restart=idle_tally.kinds,
        server_log_tracebacks=log.count("Traceback"),
    )
    assert while_down and all(" 503 database_unavailable" in k for k in while_down), while_down
    # A wrong password is refused (401): the attempts the outage answered 503 did not count (issue 17.3),
    # and after five refused ones the login is slowed (429).
    assert after and all(
        k.endswith((" 200", " 201", " 401 invalid_credentials", " 429 too_many_attempts")) for k in after
    ), after
    assert idle_tally.kinds == Counter({"checkout 201": 19})
    assert all(line.startswith("HTTP/1.1 503") for line in keep_alive), keep_alive
    assert not any(" 500" in k for k in tally.kinds), tally.kinds
    assert log.count("Traceback") == 0


# ------------------------------------------------------------------- a payment notice around a kill


async def test_payment_notices_around_a_kill_of_the_server(drill_dir: Path):
    from tests.payments.factories import sandbox_body

    server = infra.server(drill_dir)
    server.start()
    trials = []  # (delay before the kill in ms, order, payment)
    first_tries = Counter()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for _ in range(3):  # three kills, eight notices each, sent 0-100 ms before the kill
                batch = []
                for delay_ms in (0, 2, 5, 10, 20, 40, 70, 100):
                    sku = await sku_on_sale(stock=10)
                    user, address = await customer()
                    body = {"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]}
                    order = (await client.post("/api/orders", json=body, headers=auth(user))).json()
                    payment = (
                        await client.post(
                            f"/api/orders/{order['id']}/payments",
                            json={"channel": "sandbox"},
                            headers=auth(user),
                        )
                    ).json()
                    batch.append((delay_ms, order, payment))

                async def notify(delay_ms: int, order: dict, payment: dict) -> None:
                    await asyncio.sleep((100 - delay_ms) / 1000)
                    raw = sandbox_body(payment, order)
                    headers = {"Content-Type": "application/json", "X-Sandbox-Signature": sandbox.sign(raw)}
                    try:
                        response = await client.post(
                            "/api/payments/sandbox/notify", content=raw, headers=headers
                        )
                        first_tries[f"answered {response.status_code}"] += 1
                    except httpx.HTTPError:
                        first_tries["died with the server"] += 1  # the gateway retries below

                notices = [asyncio.create_task(notify(*t)) for t in batch]
                await asyncio.sleep(0.1)
                server.kill()
                await asyncio.gather(*notices)
                server.start()
                trials.extend(batch)
            # The gateway retries every notice until it is acknowledged.
            retries = 0
            for _delay, order, payment in trials:
                raw = sandbox_body(payment, order)
                headers = {"Content-Type": "application/json", "X-Sandbox-Signature": sandbox.sign(raw)}
                while True:
                    response = await client.post("/api/payments/sandbox/notify", content=raw, headers=headers)
                    if response.status_code == 200 and response.json() == {"result": "success"}:
                        break
                    retries += 1
                    await asyncio.sleep(0.1)
    finally:
        server.stop()

    outcomes = Counter()
    async with session_scope() as session:
        for _delay, order, _payment in trials:
            status = await session.scalar(select(Order.status).where(Order.id == order["id"]))
            succeeded = await session.scalar(
                select(func.count())
                .select_from(Payment)
                .where(Payment.order_id == order["id"], Payment.status == "succeeded")
            )
            paid_events = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.type == "order.paid", OutboxEvent.subject == f"order/{order['id']}")
            )
            outcomes[f"{status}, {succeeded} succeeded payment(s), {paid_events} order.paid"] += 1
    infra.report(
        "payment notices around a kill -9 of the server",
        notices=len(trials),
        kills=3,
        first_tries=first_tries,
        gateway_retries_needed=retries,
        outcomes=outcomes,
    )
    assert outcomes == Counter({"paid, 1 succeeded payment(s), 1 order.paid": len(trials)})
