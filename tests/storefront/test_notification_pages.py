from __future__ import annotations

from app.db import session_scope
from app.notifications.models import Notification
from tests.notifications.factories import create_notification
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import create_user


async def read_at(notification_id: int):
    async with session_scope() as session:
        return (await session.get(Notification, notification_id)).read_at


class TestNotificationPages:
    async def test_list_open_and_read_all(self, client):
        user = await create_user()
        shipped = await create_notification(user)
        paid = await create_notification(user, title="付款成功", event_id="evt-paid", link=None)
        await log_in(client, user)
        page = await client.get("/notifications")
        assert "订单已发货" in page.text and "付款成功" in page.text and "未读" in page.text
        token = csrf_from(page.text)
        opened = await client.post(f"/notifications/{shipped.id}/read", data={"csrf_token": token})
        assert opened.status_code == 303 and opened.headers["location"] == "/orders/1"
        assert await read_at(shipped.id) is not None and await read_at(paid.id) is None
        unread = await client.get("/notifications?unread=1")
        assert "付款成功" in unread.text and "订单已发货" not in unread.text
        await client.post("/notifications/read-all", data={"csrf_token": token})
        assert await read_at(paid.id) is not None

    async def test_someone_elses_notification_is_404_and_stays_unread(self, client):
        owner = await create_user()
        notification = await create_notification(owner)
        await log_in(client, await create_user())
        token = csrf_from((await client.get("/notifications")).text)
        assert "订单已发货" not in (await client.get("/notifications")).text
        response = await client.post(f"/notifications/{notification.id}/read", data={"csrf_token": token})
        assert response.status_code == 404
        assert await read_at(notification.id) is None

    async def test_an_outside_link_is_not_followed(self, client):
        user = await create_user()
        notification = await create_notification(user, link="https://evil.example/")
        await log_in(client, user)
        token = csrf_from((await client.get("/notifications")).text)
        response = await client.post(f"/notifications/{notification.id}/read", data={"csrf_token": token})
        assert response.headers["location"] == "/notifications"
