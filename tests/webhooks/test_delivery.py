"""Delivering events to a real local receiver: signed CloudEvents JSON, retried with backoff for a day until a
2xx, every attempt logged; a hanging receiver or a rebinding name costs the worker a bounded time, no more."""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import timedelta

import orjson
import pytest

from app.config import get_settings
from app.webhooks import safety, sender
from app.webhooks.models import MessageStatus
from app.webhooks.tasks import backoff, deliver_batch, deliver_due
from tests.webhooks.factories import create_webhook, deliveries, envelope, fan_out, messages, verify

pytestmark = pytest.mark.usefixtures("allow_private")


class TestFanOut:
    async def test_one_message_per_subscribed_active_webhook(self, receiver):
        paid = await create_webhook(receiver.url, ["order.paid", "order.shipped"])
        await create_webhook(receiver.url, ["order.shipped"])
        assert await fan_out(envelope("order.paid")) == 1
        (message,) = await messages()
        assert message.webhook_id == paid.id and message.status == MessageStatus.pending

    async def test_an_event_nobody_subscribed_to_adds_nothing(self, receiver):
        await create_webhook(receiver.url, ["order.shipped"])
        assert await fan_out(envelope("user.registered")) == 0
        assert await messages() == []


class TestDelivery:
    async def test_the_receiver_gets_the_cloudevent_signed_with_the_secret(self, receiver):
        hook = await create_webhook(receiver.url)
        event = envelope(event_id="9f1c-paid")
        await fan_out(event)

        assert await deliver_due(None) == 1

        (got,) = receiver.received
        assert got.path == "/hooks/erp"
        assert orjson.loads(got.body) == event
        assert got.headers["X-Daoxiang-Event-Id"] == "9f1c-paid"
        assert got.headers["Content-Type"].startswith("application/cloudevents+json")
        assert verify(hook.secret, got)
        assert not verify("whsec_someone_else", got)
        (attempt,) = await deliveries()
        assert (attempt.succeeded, attempt.status_code, attempt.attempt) == (True, 200, 1)
        assert attempt.duration_ms >= 0
        (message,) = await messages()
        assert message.status == MessageStatus.delivered

    async def test_a_delivered_message_is_not_sent_again(self, receiver):
        await create_webhook(receiver.url)
        await fan_out(envelope())
        await deliver_due(None)
        assert await deliver_due(None) == 0
        assert len(receiver.received) == 1

    async def test_failures_are_retried_with_growing_waits_until_a_2xx(self, receiver, shop_clock):
        receiver.answers = [500, 503, 404, 204]
        await create_webhook(receiver.url)
        await fan_out(envelope())

        await deliver_due(None)
        waits = []
        for _ in range(3):
            (message,) = await messages()
            assert message.status == MessageStatus.pending
            waits.append(message.next_attempt_at - shop_clock.now())
            assert await deliver_due(None) == 0  # not due yet
            shop_clock.advance(message.next_attempt_at - shop_clock.now() + timedelta(seconds=1))
            await deliver_due(None)

        assert [round(w.total_seconds() / 30) for w in waits] == [1, 2, 4]
        log = await deliveries()
        assert [(d.attempt, d.succeeded, d.status_code) for d in log] == [
            (1, False, 500),
            (2, False, 503),
            (3, False, 404),
            (4, True, 204),
        ]
        assert (await messages())[0].status == MessageStatus.delivered

    async def test_retries_stop_after_twenty_four_hours(self, receiver, shop_clock):
        receiver.answers = [500]
        await create_webhook(receiver.url)
        await fan_out(envelope())
        for _ in range(40):
            await deliver_due(None)
            (message,) = await messages()
            if message.status != MessageStatus.pending:
                break
            shop_clock.advance(message.next_attempt_at - shop_clock.now() + timedelta(seconds=1))
        assert message.status == MessageStatus.failed
        log = await deliveries()
        assert 10 <= len(log) <= 25
        assert log[-1].attempted_at - log[0].attempted_at <= timedelta(hours=24)
        assert log[-1].attempted_at - log[0].attempted_at >= timedelta(hours=20)

    def test_the_backoff_doubles_and_is_capped(self):
        assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
        assert backoff(30) == timedelta(hours=2)

    async def test_a_redirect_is_not_followed(self, receiver):
        receiver.answers = [("redirect", "http://169.254.169.254/latest/meta-data/")]
        await create_webhook(receiver.url)
        await fan_out(envelope())
        await deliver_due(None)
        (attempt,) = await deliveries()
        assert (attempt.succeeded, attempt.status_code) == (False, 302)
        assert len(receiver.received) == 1

    async def test_a_hanging_receiver_costs_one_timeout_and_is_retried_later(self, receiver, monkeypatch):
        monkeypatch.setattr(get_settings(), "webhook_timeout_seconds", 0.5)
        receiver.answers = ["hang"]
        await create_webhook(receiver.url)
        for n in range(3):
            await fan_out(envelope(event_id=f"e-{n}"))

        started = time.monotonic()
        assert await deliver_batch() == 3
        elapsed = time.monotonic() - started

        assert elapsed < 2.5  # the three were sent at once, each cut at 0.5 s
        log = await deliveries()
        assert [d.succeeded for d in log] == [False, False, False]
        assert all("timed out" in (d.error or "") for d in log)
        assert {m.status for m in await messages()} == {MessageStatus.pending}

    async def test_a_dead_receiver_is_a_failed_attempt(self, receiver):
        await create_webhook("http://127.0.0.1:1/nobody-listens")
        await fan_out(envelope())
        await deliver_due(None)
        (attempt,) = await deliveries()
        assert not attempt.succeeded and attempt.status_code is None and attempt.error


class TestHttps:
    async def test_the_pinned_address_is_verified_against_the_url_host(self, tls_receiver, monkeypatch):
        receiver, cert = tls_receiver

        async def local(host, port):
            return ["127.0.0.1"]

        monkeypatch.setattr(safety, "resolver", local)
        monkeypatch.setattr(sender, "_tls", lambda: ssl.create_default_context(cafile=str(cert)))
        hook = await create_webhook(f"https://erp.example.com:{receiver.port}/hooks/erp")
        await fan_out(envelope())
        await deliver_due(None)
        (got,) = receiver.received
        assert verify(hook.secret, got) and got.headers["Host"] == f"erp.example.com:{receiver.port}"
        (attempt,) = await deliveries()
        assert attempt.succeeded

    async def test_a_certificate_for_another_name_fails_the_attempt(self, tls_receiver, monkeypatch):
        receiver, cert = tls_receiver

        async def local(host, port):
            return ["127.0.0.1"]

        monkeypatch.setattr(safety, "resolver", local)
        monkeypatch.setattr(sender, "_tls", lambda: ssl.create_default_context(cafile=str(cert)))
        await create_webhook(f"https://wms.example.com:{receiver.port}/hooks/erp")
        await fan_out(envelope())
        await deliver_due(None)
        (attempt,) = await deliveries()
        assert not attempt.succeeded and attempt.status_code is None
        assert receiver.received == []


class TestRebinding:
    async def test_a_name_that_turns_private_after_creation_is_refused_at_delivery(
        self, receiver, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "webhook_allow_private", False)
        answers = iter([["93.184.216.34"], ["127.0.0.1"]])

        async def rebinding(host, port):
            return next(answers)

        monkeypatch.setattr(safety, "resolver", rebinding)
        await create_webhook(f"http://erp.example.com:{receiver.port}/hooks/erp")
        await fan_out(envelope())

        await deliver_due(None)

        assert receiver.received == []
        (attempt,) = await deliveries()
        assert not attempt.succeeded and attempt.error.startswith("refused")

    async def test_the_checked_address_is_the_one_connected_to(self, receiver, monkeypatch):
        calls = []

        async def once_local(host, port):
            calls.append(host)
            return ["127.0.0.1"]

        monkeypatch.setattr(safety, "resolver", once_local)
        await create_webhook(f"http://erp.example.com:{receiver.port}/hooks/erp")
        await fan_out(envelope())
        await deliver_due(None)
        (got,) = receiver.received
        assert got.headers["Host"] == f"erp.example.com:{receiver.port}"
        assert calls == ["erp.example.com", "erp.example.com"]  # creation, then the one attempt


class TestTheShopIsNeverSlowed:
    async def test_the_api_answers_at_once_while_a_receiver_hangs(self, client, receiver, monkeypatch):
        monkeypatch.setattr(get_settings(), "webhook_timeout_seconds", 1.5)
        receiver.answers = ["hang"]
        await create_webhook(receiver.url, ["order.paid"])
        await fan_out(envelope())
        sending = asyncio.create_task(deliver_batch())
        await asyncio.sleep(0.2)  # the attempt is under way, the receiver holds it

        started = time.monotonic()
        response = await client.get("/api/products")
        assert response.status_code == 200
        assert time.monotonic() - started < 0.5
        assert not sending.done()
        assert await sending == 1


class TestTheWorkerLoop:
    async def test_the_loop_delivers_beside_the_ticks_and_stops_when_told(self, receiver):
        from app.webhooks.tasks import deliver_continuously
        from app.worker import registered_loops

        assert registered_loops()["webhooks.deliver"] is deliver_continuously
        await create_webhook(receiver.url)
        await fan_out(envelope())
        stop = asyncio.Event()
        loop = asyncio.create_task(deliver_continuously(stop))
        for _ in range(100):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
        assert len(receiver.received) == 1


class TestPurge:
    async def test_finished_messages_go_after_the_retention_pending_ones_stay(self, receiver, shop_clock):
        from app.db import session_scope
        from app.webhooks.tasks import purge_log

        receiver.answers = [200, 500]
        await create_webhook(receiver.url)
        await fan_out(envelope(event_id="done"))
        await deliver_due(None)
        await fan_out(envelope(event_id="still-trying"))
        await deliver_due(None)

        shop_clock.advance(timedelta(days=31))
        async with session_scope() as session:
            assert await purge_log(session) == 1
        assert [m.event_id for m in await messages()] == ["still-trying"]
        assert [d.event_id for d in await deliveries()] == ["still-trying"]
