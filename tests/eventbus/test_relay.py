"""The outbox relay: at least once to `daoxiang:events`, nothing lost when Redis is down or a relay dies."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.db import session_scope, utcnow
from app.eventbus import relay
from app.eventbus.tasks import relay_events
from app.events import STREAM_NAME, emit
from app.notifications.models import Notification
from app.worker import run_job
from tests.eventbus.factories import (
    consumer,
    down_redis,
    emit_registered,
    outbox,
    real_redis,
    stream_envelopes,
)
from tests.users.factories import create_user


class Killed(Exception):
    """Stands for the relay process dying at a precise point."""


class TestWithoutRedis:
    async def test_events_stay_in_the_outbox(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setattr(get_settings(), "redis_url", None)
        await emit_registered(1)
        await emit_registered(2)

        assert await run_job("events.relay") == 0

        rows = await outbox()
        assert [r.published_at for r in rows] == [None, None]
        assert [r.attempts for r in rows] == [0, 0]


class TestPublish:
    async def test_each_event_becomes_one_stream_entry_holding_its_cloudevent(self, client):
        redis = real_redis()
        response = await client.post(
            "/api/users", json={"phone": "13700000001", "password": "correct-horse-2026"}
        )
        user_id = response.json()["id"]

        assert await run_job("events.relay") == 1

        entries = await redis.xrange(STREAM_NAME)
        assert len(entries) == 1
        assert list(entries[0][1]) == [b"event"]
        (envelope,) = await stream_envelopes(redis)
        (row,) = await outbox()
        assert envelope["specversion"] == "1.0"
        assert envelope["id"] == row.event_id
        assert envelope["source"] == "/daoxiang"
        assert envelope["type"] == "user.registered"
        assert envelope["subject"] == f"user/{user_id}"
        assert envelope["dataschema"] == "https://daoxiang.example/event-schemas/user.registered.v1.json"
        assert envelope["data"]["user_id"] == user_id
        assert envelope["time"].endswith("+00:00")
        assert row.published_at is not None and row.attempts == 1

    async def test_a_published_event_is_not_published_again(self):
        redis = real_redis()
        await emit_registered(1)
        assert await relay.drain(redis) == 1
        assert await relay.drain(redis) == 0
        assert len(await stream_envelopes(redis)) == 1

    async def test_events_are_published_in_the_order_they_were_written(self):
        redis = real_redis()
        written = [(await emit_registered(i)).event_id for i in range(1, 8)]
        await relay.drain(redis)
        assert [e["id"] for e in await stream_envelopes(redis)] == written

    async def test_the_stream_is_bounded_by_event_stream_maxlen(self, monkeypatch: pytest.MonkeyPatch):
        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_stream_maxlen", 100)
        async with session_scope() as session:
            for i in range(1, 601):
                data = {"user_id": i, "role": "customer", "registered_at": "2026-11-25T13:05:00+00:00"}
                await emit(session, "user.registered", data)
        assert await relay.drain(redis) == 600
        # MAXLEN ~ trims whole stream nodes (100 entries each by default), so the length is near the bound.
        assert 100 <= await redis.xlen(STREAM_NAME) <= 300


class TestRedisDown:
    async def test_nothing_is_published_and_retries_back_off(self):
        await emit_registered(1)
        before = utcnow()

        async with session_scope() as session:
            assert await relay.relay_once(session, down_redis()) == 0
        (row,) = await outbox()
        assert row.published_at is None
        assert row.attempts == 1
        assert row.last_error
        assert row.next_attempt_at is not None and row.next_attempt_at > before

        async with session_scope() as session:
            assert await relay.relay_once(session, down_redis(), now=row.next_attempt_at) == 0
        (row2,) = await outbox()
        assert row2.attempts == 2
        # The second wait is twice the first.
        assert row2.next_attempt_at - row.next_attempt_at == pytest.approx(
            relay.backoff(2), abs=timedelta(seconds=0.5)
        )

    async def test_backoff_doubles_up_to_the_cap(self):
        settings = get_settings()
        base, cap = settings.event_relay_backoff_seconds, settings.event_relay_backoff_max_seconds
        assert relay.backoff(1) == timedelta(seconds=base)
        assert relay.backoff(2) == timedelta(seconds=2 * base)
        assert relay.backoff(3) == timedelta(seconds=4 * base)
        assert relay.backoff(500) == timedelta(seconds=cap)

    async def test_down_then_back_delivers_everything(self):
        redis = real_redis()
        written = [(await emit_registered(i)).event_id for i in range(1, 6)]

        async with session_scope() as session:
            assert await relay.relay_once(session, down_redis()) == 0
        await emit_registered(6)  # written while Redis is down
        async with session_scope() as session:
            assert await relay.relay_once(session, down_redis()) == 0
        assert all(r.published_at is None for r in await outbox())

        # Redis is back; once the backoff has passed, everything goes out, in order.
        later = utcnow() + timedelta(seconds=get_settings().event_relay_backoff_max_seconds + 1)
        async with session_scope() as session:
            assert await relay.relay_once(session, redis, now=later) == 6
        rows = await outbox()
        assert all(r.published_at is not None for r in rows)
        assert [e["id"] for e in await stream_envelopes(redis)] == [*written, rows[-1].event_id]

    async def test_events_not_yet_due_wait_for_their_backoff(self):
        redis = real_redis()
        await emit_registered(1)
        async with session_scope() as session:
            await relay.relay_once(session, down_redis())
        async with session_scope() as session:
            assert await relay.relay_once(session, redis) == 0
        assert await redis.xlen(STREAM_NAME) == 0


class TestKilledMidway:
    async def test_killed_between_publish_and_mark_duplicates_but_loses_nothing(self):
        redis = real_redis()
        user = await create_user()
        async with session_scope() as session:
            await emit(
                session,
                "user.registered",
                {"user_id": user.id, "role": "customer", "registered_at": user.created_at.isoformat()},
            )
        other = await emit_registered(user.id)

        # The relay publishes the batch, then dies before its transaction marks it published.
        with pytest.raises(Killed):
            async with session_scope() as session:
                claimed = await relay.claim(session, limit=1)
                await relay.publish(redis, claimed)
                raise Killed
        assert all(r.published_at is None for r in await outbox())

        # The next run publishes everything: the first event twice, none lost.
        assert await relay.drain(redis) == 2
        ids = [e["id"] for e in await stream_envelopes(redis)]
        rows = await outbox()
        assert sorted(set(ids)) == sorted(r.event_id for r in rows)
        assert ids.count(rows[0].event_id) == 2 and ids.count(other.event_id) == 1

        # The consumer sees three entries and notifies once per event.
        c = await consumer(redis)
        await c.run_until_idle()
        assert c.stats["handled"] == 2 and c.stats["duplicates"] == 1
        async with session_scope() as session:
            count = await session.scalar(select(func.count()).select_from(Notification))
        assert count == 2
        assert await redis.xpending(STREAM_NAME, "notifications") == {
            "pending": 0,
            "min": None,
            "max": None,
            "consumers": [],
        }


class TestSeveralRelays:
    async def test_concurrent_relays_publish_each_event_exactly_once(self, monkeypatch: pytest.MonkeyPatch):
        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_relay_batch_size", 7)
        for i in range(1, 121):
            await emit_registered(i)

        results = await asyncio.gather(*(relay.drain(redis) for _ in range(4)))

        assert sum(results) == 120
        ids = [e["id"] for e in await stream_envelopes(redis)]
        assert len(ids) == len(set(ids)) == 120
        assert all(r.published_at is not None and r.attempts == 1 for r in await outbox())


class TestJobs:
    async def test_the_worker_job_drains_several_batches_per_tick(self, monkeypatch: pytest.MonkeyPatch):
        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_relay_batch_size", 5)
        for i in range(1, 24):
            await emit_registered(i)
        async with session_scope() as session:
            assert await relay_events(session) == 23
        assert await redis.xlen(STREAM_NAME) == 23

    async def test_published_events_are_purged_after_the_retention(self):
        redis = real_redis()
        await emit_registered(1)
        await relay.drain(redis)
        await emit_registered(2)  # unpublished: never purged
        later = utcnow() + timedelta(days=get_settings().event_outbox_retention_days + 1)
        async with session_scope() as session:
            assert await relay.purge_published(session, now=later) == 1
        (row,) = await outbox()
        assert row.published_at is None


async def _until_published(deadline_s: float = 30) -> None:
    """Wait (polling the outbox, no fixed sleep) until every event is published."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while any(r.published_at is None for r in await outbox()):
        assert loop.time() < deadline, "the relay did not publish the backlog"
        await asyncio.sleep(0.02)


async def _emit_many(count: int) -> None:
    from sqlalchemy import insert

    from app.events import OutboxEvent, outbox_row

    payload = {"role": "customer", "registered_at": "2026-11-25T13:05:00+00:00"}
    async with session_scope() as session:
        await session.execute(
            insert(OutboxEvent),
            [
                outbox_row("user.registered", {"user_id": i, **payload}, subject=f"user/{i}")
                for i in range(1, count + 1)
            ],
        )


class TestContinuousRelay:
    """`daoxiang worker` relays batch after batch while there is a backlog, not a few batches per tick."""

    @pytest.mark.parametrize(("events", "batch_size"), [(1, 1000), (57, 10), (600, 7), (2500, 1000)])
    async def test_publishes_a_backlog_of_many_batches_once_each_in_outbox_order(
        self, monkeypatch: pytest.MonkeyPatch, events, batch_size
    ):
        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_relay_batch_size", batch_size)
        await _emit_many(events)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.relay_forever(stop, redis))
        try:
            await _until_published()
        finally:
            stop.set()
            await task
        rows = await outbox()
        ids = [e["id"] for e in await stream_envelopes(redis)]
        assert ids == [r.event_id for r in rows]  # each once, in outbox order (one relay)
        assert all(r.attempts == 1 for r in rows)

    async def test_new_events_go_out_while_it_waits_idle(self, monkeypatch: pytest.MonkeyPatch):
        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_relay_poll_seconds", 0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.relay_forever(stop, redis))
        try:
            for round_ in range(3):
                await emit_registered(round_ + 1)
                await _until_published(deadline_s=10)
        finally:
            stop.set()
            await task
        assert len(await stream_envelopes(redis)) == 3

    @pytest.mark.parametrize("relays", [2, 4])
    async def test_several_relays_together_publish_each_event_exactly_once(
        self, monkeypatch: pytest.MonkeyPatch, relays
    ):
        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_relay_batch_size", 25)
        await _emit_many(700)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(relay.relay_forever(stop, redis)) for _ in range(relays)]
        try:
            await _until_published()
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        ids = [e["id"] for e in await stream_envelopes(redis)]
        assert len(ids) == len(set(ids)) == 700

    async def test_redis_down_keeps_everything_and_the_loop_goes_on(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setattr(get_settings(), "event_relay_poll_seconds", 0.01)
        await _emit_many(30)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.relay_forever(stop, down_redis()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not all(r.attempts >= 1 for r in await outbox()):
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
        stop.set()
        await task
        rows = await outbox()
        assert all(r.published_at is None and r.next_attempt_at is not None for r in rows)

    async def test_the_worker_relays_between_its_ticks(self, monkeypatch: pytest.MonkeyPatch):
        from app.worker import run_forever

        redis = real_redis()
        monkeypatch.setattr(get_settings(), "event_relay_poll_seconds", 0.05)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_forever(interval_seconds=3600, stop=stop))
        try:
            await _emit_many(1500)
            await _until_published()  # long before the next tick (an hour)
            await emit_registered(99)
            await _until_published()
        finally:
            stop.set()
            await worker
        ids = [e["id"] for e in await stream_envelopes(redis)]
        assert len(ids) == len(set(ids)) == 1501
