"""`daoxiang consume`: a consumer group that turns events into notifications, once per event."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.config import get_settings
from app.db import session_scope, utcnow
from app.eventbus.consumer import already_processed
from app.eventbus.models import ProcessedEvent
from app.eventbus.tasks import purge_processed_events
from app.events import STREAM_NAME
from app.notifications.models import Notification
from tests.eventbus.factories import add_entry, consumer, envelope, real_redis
from tests.users.factories import auth, create_user

SHIPPED = {
    "order_id": 12,
    "order_no": "DX202611250001",
    "user_id": 0,
    "carrier": "顺丰速运",
    "tracking_no": "SF1234567890",
}


async def notifications() -> list[Notification]:
    async with session_scope() as session:
        return list((await session.scalars(select(Notification).order_by(Notification.id))).all())


async def pending(redis) -> int:
    return (await redis.xpending(STREAM_NAME, "notifications"))["pending"]


class TestConsume:
    async def test_a_shipped_order_notifies_its_customer_in_chinese(self, client):
        redis = real_redis()
        user = await create_user()
        await add_entry(redis, envelope("order.shipped", SHIPPED | {"user_id": user.id}))

        c = await consumer(redis)
        assert await c.run_until_idle() == 1

        response = await client.get("/api/users/me/notifications", headers=auth(user))
        (item,) = response.json()["items"]
        assert item["title"] == "订单已发货"
        assert item["body"] == "订单 DX202611250001 已由顺丰速运发出，运单号 SF1234567890。"
        assert item["link"] == "/orders/12"
        assert item["event_type"] == "order.shipped"
        assert await pending(redis) == 0

    async def test_the_same_event_twice_notifies_once(self):
        redis = real_redis()
        user = await create_user()
        event = envelope(
            "order.paid", {"order_id": 3, "order_no": "DX1", "user_id": user.id, "amount_fen": 5990}
        )
        await add_entry(redis, event)
        await add_entry(redis, event)

        c = await consumer(redis)
        await c.run_until_idle()

        (notification,) = await notifications()
        assert notification.title == "订单已支付"
        assert "¥59.90" in notification.body
        assert c.stats == {"handled": 1, "duplicates": 1, "skipped": 0, "failed": 0}
        assert await pending(redis) == 0

    async def test_a_duplicate_arriving_after_a_restart_is_still_dropped(self):
        redis = real_redis()
        user = await create_user()
        event = envelope("order.created", {"order_id": 3, "order_no": "DX1", "user_id": user.id}, "e-9")
        await add_entry(redis, event)
        await (await consumer(redis, "first")).run_until_idle()
        await add_entry(redis, event)
        await (await consumer(redis, "second")).run_until_idle()
        assert len(await notifications()) == 1

    async def test_events_without_a_user_are_acknowledged_and_notify_nobody(self):
        redis = real_redis()
        await add_entry(redis, envelope("stock.low", {"sku_id": 1, "stock": 2}))
        await add_entry(redis, envelope("order.shipped", {"order_id": 1}, "e-2"))

        await (await consumer(redis)).run_until_idle()

        assert await notifications() == []
        assert await pending(redis) == 0
        async with session_scope() as session:
            assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 2

    async def test_a_malformed_entry_is_dropped_without_stopping_the_consumer(self):
        redis = real_redis()
        user = await create_user()
        await add_entry(redis, b"{not json")
        await add_entry(redis, envelope("order.cancelled", {"order_no": "DX2", "user_id": user.id}))

        c = await consumer(redis)
        await c.run_until_idle()

        (notification,) = await notifications()
        assert notification.title == "订单已取消"
        assert c.stats["skipped"] == 1
        assert await pending(redis) == 0

    async def test_events_published_before_the_group_existed_are_consumed(self):
        redis = real_redis()
        user = await create_user()
        await add_entry(redis, envelope("order.completed", {"order_no": "DX3", "user_id": user.id}))
        await (await consumer(redis)).run_until_idle()
        assert [n.title for n in await notifications()] == ["订单已完成"]


class TestCrashedConsumers:
    async def test_a_dead_consumers_pending_entries_are_claimed_by_another(self):
        redis = real_redis()
        user = await create_user()
        await add_entry(
            redis, envelope("order.refunded", {"order_no": "DX4", "user_id": user.id, "amount_fen": 100})
        )
        dead = await consumer(redis, "dead")
        await dead._new(None)  # read, then died before handling and acknowledging
        assert await pending(redis) == 1

        survivor = await consumer(redis, "survivor", claim_idle_ms=0)
        assert await survivor.run_until_idle() == 1

        (notification,) = await notifications()
        assert notification.body == "订单 DX4 已退款 ¥1.00，款项将原路退回。"
        assert await pending(redis) == 0

    async def test_a_consumer_restarted_under_its_name_finishes_its_own_pending_entries(self):
        redis = real_redis()
        user = await create_user()
        await add_entry(redis, envelope("order.paid", {"order_no": "DX5", "user_id": user.id}))
        await (await consumer(redis, "worker-1"))._new(None)

        assert await (await consumer(redis, "worker-1")).run_until_idle() == 1
        assert len(await notifications()) == 1
        assert await pending(redis) == 0

    async def test_a_failing_handler_leaves_the_entry_pending_for_a_retry(self):
        redis = real_redis()
        user = await create_user()
        await add_entry(redis, envelope("order.paid", {"order_no": "DX6", "user_id": user.id}))

        async def broken(session, event):
            raise RuntimeError("database hiccup")

        failing = await consumer(redis, "flaky", handler=broken)
        await failing.run_until_idle()
        assert failing.stats["failed"] == 1
        assert await pending(redis) == 1
        async with session_scope() as session:  # the failed attempt left no trace
            assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0

        await (await consumer(redis, "healthy", claim_idle_ms=0)).run_until_idle()
        assert len(await notifications()) == 1
        assert await pending(redis) == 0


class TestProcessedEventsArePurged:
    async def test_records_older_than_the_retention_go_and_recent_ones_stay(self):
        now = utcnow()
        days = get_settings().event_processed_retention_days
        async with session_scope() as session:
            session.add_all(
                [
                    ProcessedEvent(
                        consumer="g", event_id="old", type="t", processed_at=now - timedelta(days=days + 1)
                    ),
                    ProcessedEvent(
                        consumer="g", event_id="new", type="t", processed_at=now - timedelta(days=days - 1)
                    ),
                ]
            )
        async with session_scope() as session:
            assert await purge_processed_events(session) == 1
        async with session_scope() as session:
            left = (await session.execute(select(ProcessedEvent.event_id))).scalars().all()
            assert left == ["new"]
            assert await already_processed(session, "g", "new")
            assert not await already_processed(session, "g", "old")
