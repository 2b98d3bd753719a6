"""Two workers at once: every message is sent exactly once (SKIP LOCKED claims on MariaDB), and the fan-out
through the event bus turns each event into one message per webhook however many workers read the group."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from app.config import get_settings
from app.eventbus.tasks import fan_out_webhooks, relay_events
from app.webhooks.models import MessageStatus
from app.webhooks.tasks import deliver_batch
from tests.eventbus.factories import emit_registered, real_redis
from tests.webhooks.factories import create_webhook, deliveries, envelope, fan_out, messages, verify

pytestmark = pytest.mark.usefixtures("allow_private")


class TestTwoWorkers:
    async def test_two_delivery_runs_at_once_send_each_message_once(self, receiver, monkeypatch):
        monkeypatch.setattr(get_settings(), "webhook_batch_size", 6)
        await create_webhook(receiver.url)
        for n in range(12):
            await fan_out(envelope(event_id=f"e-{n}"))

        sent = await asyncio.gather(deliver_batch(), deliver_batch(), deliver_batch())

        assert sum(sent) == 12
        ids = sorted(orjson.loads(r.body)["id"] for r in receiver.received)
        assert ids == sorted(f"e-{n}" for n in range(12))
        assert len(await deliveries()) == 12
        assert {m.status for m in await messages()} == {MessageStatus.delivered}


class TestThroughTheEventBus:
    async def test_an_emitted_event_reaches_the_receiver_once_with_two_workers(self, receiver):
        real_redis()
        hook = await create_webhook(receiver.url, ["user.registered"])
        events = [await emit_registered(user_id=n) for n in range(1, 6)]
        assert await relay_events(None) == 5

        handled = await asyncio.gather(fan_out_webhooks(None), fan_out_webhooks(None))
        assert sum(handled) == 5
        assert len(await messages()) == 5
        assert await fan_out_webhooks(None) == 0
        await asyncio.gather(deliver_batch(), deliver_batch())

        got = {orjson.loads(r.body)["id"]: r for r in receiver.received}
        assert sorted(got) == sorted(e.event_id for e in events)
        assert len(receiver.received) == 5
        assert all(verify(hook.secret, r) for r in receiver.received)
        assert all(r.headers["X-Daoxiang-Event-Id"] == orjson.loads(r.body)["id"] for r in receiver.received)


class TestNobodySubscribed:
    async def test_events_cost_no_database_write_and_a_new_webhook_gets_only_what_follows(self, receiver):
        """With no webhook, the group moves past the stream in one command: no processed_events row per event
        (a write beside every checkout's own); a webhook made afterwards gets the events from then on."""
        from sqlalchemy import func, select

        from app.db import session_scope
        from app.eventbus.models import ProcessedEvent

        real_redis()
        for n in range(1, 4):
            await emit_registered(user_id=n)
        assert await relay_events(None) == 3
        assert await fan_out_webhooks(None) == 0
        async with session_scope() as session:
            recorded = (
                select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.consumer == "webhooks")
            )
            assert (await session.execute(recorded)).scalar_one() == 0
        await create_webhook(receiver.url, ["user.registered"])
        later = await emit_registered(user_id=9)
        assert await relay_events(None) == 1
        assert await fan_out_webhooks(None) == 1
        assert [m.event_id for m in await messages()] == [later.event_id]
