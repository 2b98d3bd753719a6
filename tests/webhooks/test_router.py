"""The admin webhook API: create (the secret once), list, disable, the delivery log, redelivery."""

from __future__ import annotations

import pytest

from app.users.models import Role
from app.webhooks.models import MessageStatus
from app.webhooks.tasks import deliver_due
from tests.problems import assert_problem
from tests.users.factories import auth, create_user
from tests.webhooks.factories import admin, envelope, fan_out, messages

URL = "/api/admin/webhooks"


async def create(client, user, **overrides):
    body = {
        "url": "https://93.184.216.34/erp/events",
        "event_types": ["order.paid", "order.shipped"],
    } | overrides
    return await client.post(URL, json=body, headers=auth(user))


class TestCreateWebhook:
    async def test_an_admin_creates_one_and_sees_its_secret_once(self, client):
        user = await admin()
        response = await create(client, user)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
        assert body["event_types"] == ["order.paid", "order.shipped"] and body["is_active"] is True

        listed = (await client.get(URL, headers=auth(user))).json()
        assert [w["id"] for w in listed["items"]] == [body["id"]]
        assert "secret" not in listed["items"][0]

    async def test_anonymous_is_401_and_staff_below_admin_403(self, client):
        assert_problem(await client.post(URL, json={}), 401, "not_authenticated")
        for role in (Role.customer, Role.merchant):
            user = await create_user(role=role)
            assert_problem(await create(client, user), 403, "forbidden")
            assert_problem(await client.get(URL, headers=auth(user)), 403, "forbidden")

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8000/hook",
            "http://localhost/hook",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://[fd00::1]/",
            "ftp://93.184.216.34/",
            "http://user:pw@93.184.216.34/",
        ],
    )
    async def test_inside_or_odd_urls_are_refused_and_nothing_is_stored(self, client, url):
        user = await admin()
        assert_problem(await create(client, user, url=url), 422, "webhook_url_refused")
        assert (await client.get(URL, headers=auth(user))).json()["total"] == 0

    @pytest.mark.parametrize(
        "overrides",
        [
            {"event_types": []},
            {"event_types": ["Order Paid"]},
            {"secret": "mine"},
            {"url": ""},
            {"event_types": "x"},
        ],
    )
    async def test_bad_bodies_are_422(self, client, overrides):
        user = await admin()
        assert_problem(await create(client, user, **overrides), 422, "validation_error")


class TestDisable:
    async def test_disabling_cancels_waiting_messages_and_stops_new_ones(self, client):
        user = await admin()
        hook = (await create(client, user)).json()
        await fan_out(envelope())
        response = await client.post(f"{URL}/{hook['id']}/disable", headers=auth(user))
        assert response.status_code == 200 and response.json()["is_active"] is False
        assert [m.status for m in await messages()] == [MessageStatus.cancelled]
        assert await fan_out(envelope(event_id="e-2")) == 0

    async def test_an_unknown_webhook_is_404(self, client):
        user = await admin()
        assert_problem(await client.post(f"{URL}/999/disable", headers=auth(user)), 404, "webhook_not_found")
        assert_problem(
            await client.get(f"{URL}/999/deliveries", headers=auth(user)), 404, "webhook_not_found"
        )


@pytest.mark.usefixtures("allow_private")
class TestDeliveryLogAndRedelivery:
    async def test_the_log_lists_attempts_and_redelivery_sends_the_event_again(self, client, receiver):
        receiver.answers = [500, 200]
        user = await admin()
        hook = (await create(client, user, url=receiver.url, event_types=["order.paid"])).json()
        await fan_out(envelope(event_id="evt-7"))
        await deliver_due(None)

        log = (await client.get(f"{URL}/{hook['id']}/deliveries", headers=auth(user))).json()
        (failed,) = log["items"]
        assert (failed["event_id"], failed["succeeded"], failed["status_code"]) == ("evt-7", False, 500)

        response = await client.post(
            f"{URL}/{hook['id']}/deliveries/{failed['id']}/redeliver", headers=auth(user)
        )
        assert response.status_code == 202, response.text
        await deliver_due(None)

        log = (await client.get(f"{URL}/{hook['id']}/deliveries", headers=auth(user))).json()
        assert [(d["succeeded"], d["status_code"], d["manual"]) for d in log["items"]] == [
            (True, 200, True),
            (False, 500, False),
        ]
        assert len(receiver.received) == 2
        assert receiver.received[0].body == receiver.received[1].body

    async def test_another_webhooks_delivery_is_404(self, client, receiver):
        user = await admin()
        first = (await create(client, user, url=receiver.url)).json()
        second = (await create(client, user, url=receiver.url)).json()
        await fan_out(envelope())
        await deliver_due(None)
        log = (await client.get(f"{URL}/{first['id']}/deliveries", headers=auth(user))).json()
        delivery_id = log["items"][0]["id"]
        response = await client.post(
            f"{URL}/{second['id']}/deliveries/{delivery_id}/redeliver", headers=auth(user)
        )
        assert_problem(response, 404, "webhook_delivery_not_found")

    async def test_a_disabled_webhook_cannot_redeliver(self, client, receiver):
        user = await admin()
        hook = (await create(client, user, url=receiver.url)).json()
        await fan_out(envelope())
        await deliver_due(None)
        delivery_id = (await client.get(f"{URL}/{hook['id']}/deliveries", headers=auth(user))).json()[
            "items"
        ][0]["id"]
        await client.post(f"{URL}/{hook['id']}/disable", headers=auth(user))
        response = await client.post(
            f"{URL}/{hook['id']}/deliveries/{delivery_id}/redeliver", headers=auth(user)
        )
        assert_problem(response, 409, "webhook_disabled")
