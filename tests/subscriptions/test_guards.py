"""The prepaid subscription order is paid once for every period and goes out as delivery orders: staff never
ship it, and the customer is refunded by cancelling (exactly the periods not delivered), never by a refund
request that would return the delivered periods too."""

from __future__ import annotations

from tests.orders.factories import customer, sku_on_sale, staff
from tests.subscriptions.factories import action, order_of, paid_subscription
from tests.users.factories import auth


async def test_a_refund_request_of_the_prepaid_order_is_refused_and_changes_nothing(client):
    user, address = await customer()
    sub = await paid_subscription(client, user, address, await sku_on_sale(stock=50), periods=3)
    assert sub["delivered_periods"] == 1
    response = await client.post(
        f"/api/orders/{sub['order_id']}/refund-request", json={"reason": "不想要了"}, headers=auth(user)
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_order_state"
    assert "cancel" in response.json()["detail"]
    assert (await order_of(sub["order_id"])).status == "paid"
    # The way out that refunds exactly what was not delivered still works.
    assert (await action(client, user, sub["id"], "cancel")).status_code == 200


async def test_staff_cannot_ship_the_prepaid_order(client):
    user, address = await customer()
    sub = await paid_subscription(client, user, address, await sku_on_sale(stock=50), periods=2)
    worker = await staff()
    response = await client.post(
        f"/api/admin/orders/{sub['order_id']}/ship",
        json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"},
        headers=auth(worker),
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_order_state"
    assert (await order_of(sub["order_id"])).status == "paid"
