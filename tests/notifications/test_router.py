"""GET /api/users/me/notifications and marking them read."""

from __future__ import annotations

from tests.notifications.factories import create_notification
from tests.users.factories import auth, create_user


class TestListNotifications:
    async def test_anonymous_is_401(self, client):
        response = await client.get("/api/users/me/notifications")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    async def test_only_my_own_newest_first(self, client):
        me, other = await create_user(), await create_user()
        first = await create_notification(me, title="订单已创建")
        second = await create_notification(me, title="订单已支付")
        await create_notification(other, title="别人的")

        response = await client.get("/api/users/me/notifications", headers=auth(me))

        assert response.status_code == 200
        body = response.json()
        assert [i["id"] for i in body["items"]] == [second.id, first.id]
        assert body["total"] == 2 and body["page"] == 1 and body["size"] == 20
        assert body["items"][0]["read_at"] is None

    async def test_pages(self, client):
        me = await create_user()
        for i in range(5):
            await create_notification(me, body=f"第{i}条")
        response = await client.get("/api/users/me/notifications?page=2&size=2", headers=auth(me))
        body = response.json()
        assert [i["body"] for i in body["items"]] == ["第2条", "第1条"]
        assert body["total"] == 5

    async def test_unread_only(self, client):
        me = await create_user()
        read = await create_notification(me)
        unread = await create_notification(me)
        await client.post(f"/api/users/me/notifications/{read.id}/read", headers=auth(me))
        response = await client.get("/api/users/me/notifications?unread=true", headers=auth(me))
        assert [i["id"] for i in response.json()["items"]] == [unread.id]

    async def test_a_page_size_over_100_is_422(self, client):
        me = await create_user()
        response = await client.get("/api/users/me/notifications?size=101", headers=auth(me))
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"


class TestMarkRead:
    async def test_marks_it_read_and_reading_again_keeps_the_first_time(self, client):
        me = await create_user()
        notification = await create_notification(me)
        first = await client.post(f"/api/users/me/notifications/{notification.id}/read", headers=auth(me))
        again = await client.post(f"/api/users/me/notifications/{notification.id}/read", headers=auth(me))
        assert first.status_code == 200
        assert first.json()["read_at"] is not None
        assert again.json()["read_at"] == first.json()["read_at"]

    async def test_someone_elses_is_404_and_stays_unread(self, client):
        me, other = await create_user(), await create_user()
        theirs = await create_notification(other)
        response = await client.post(f"/api/users/me/notifications/{theirs.id}/read", headers=auth(me))
        assert response.status_code == 404
        assert response.json()["code"] == "notification_not_found"
        listed = await client.get("/api/users/me/notifications", headers=auth(other))
        assert listed.json()["items"][0]["read_at"] is None

    async def test_anonymous_is_401(self, client):
        response = await client.post("/api/users/me/notifications/1/read")
        assert response.status_code == 401


class TestMarkAllRead:
    async def test_marks_only_mine_and_says_how_many(self, client):
        me, other = await create_user(), await create_user()
        await create_notification(me)
        await create_notification(me)
        await create_notification(other)

        response = await client.post("/api/users/me/notifications/read-all", headers=auth(me))
        assert response.status_code == 200
        assert response.json() == {"marked": 2}
        assert (await client.post("/api/users/me/notifications/read-all", headers=auth(me))).json() == {
            "marked": 0
        }
        unread = await client.get("/api/users/me/notifications?unread=true", headers=auth(other))
        assert unread.json()["total"] == 1
