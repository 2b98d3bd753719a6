"""The event → notification table."""

from __future__ import annotations

from app.notifications.templates import TEMPLATES, render


class TestRender:
    def test_fills_fields_and_prints_fen_as_yuan(self):
        rendered = render(
            "order.created", {"user_id": 7, "order_id": 3, "order_no": "DX1", "total_fen": 12345}
        )
        assert rendered is not None
        assert rendered.user_id == 7
        assert rendered.title == "订单已创建"
        assert rendered.body == "订单 DX1 已创建，应付 ¥123.45，请尽快完成支付。"
        assert rendered.link == "/orders/3"

    def test_a_missing_field_falls_back_to_the_plain_message(self):
        rendered = render("order.shipped", {"user_id": 7})
        assert rendered is not None
        assert rendered.body == "您的订单已发货，请留意查收。"
        assert rendered.link is None

    def test_no_user_id_means_no_notification(self):
        assert render("order.shipped", {"order_id": 1}) is None
        assert render("order.shipped", {"user_id": "7"}) is None
        assert render("order.shipped", {"user_id": True}) is None

    def test_events_that_are_not_for_customers_notify_nobody(self):
        assert render("stock.low", {"user_id": 1, "sku_id": 2}) is None

    def test_every_order_change_a_customer_cares_about_has_a_message(self):
        for event_type in (
            "order.created",
            "order.paid",
            "order.cancelled",
            "order.shipped",
            "order.completed",
            "order.refund_requested",
            "order.refunded",
        ):
            assert event_type in TEMPLATES
