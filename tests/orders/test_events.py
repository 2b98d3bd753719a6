"""Every order event lands in the outbox, in the order's transaction, and matches its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from sqlalchemy import select

from app.db import session_scope
from app.events import OutboxEvent
from app.worker import run_job
from tests.orders.factories import customer, paid_order, pay, pending_order, shipped_order, sku_on_sale, staff
from tests.users.factories import auth

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "event-schemas"


async def _events() -> list[OutboxEvent]:
    async with session_scope() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars().all())


class TestOrderEvents:
    async def test_a_full_life_emits_valid_events(self, client):
        sku = await sku_on_sale(stock=50)
        me, address = await customer()
        clerk = await staff()
        completed = await shipped_order(client, me, address, sku)
        await client.post(f"/api/orders/{completed['id']}/confirm-receipt", headers=auth(me))
        cancelled = await pending_order(client, me, address, sku)
        await client.post(f"/api/orders/{cancelled['id']}/cancel", headers=auth(me))
        await pay(cancelled["id"])  # late payment
        refunded = await paid_order(client, me, address, sku)
        await client.post(
            f"/api/orders/{refunded['id']}/refund-request", json={"reason": "不要了"}, headers=auth(me)
        )
        await client.post(f"/api/admin/orders/{refunded['id']}/refund", headers=auth(clerk))
        rejected = await paid_order(client, me, address, sku)
        await client.post(
            f"/api/orders/{rejected['id']}/refund-request", json={"reason": "不要了"}, headers=auth(me)
        )
        await client.post(
            f"/api/admin/orders/{rejected['id']}/refund-reject",
            json={"reason": "不符合"},
            headers=auth(clerk),
        )
        await run_job("orders.cancel_unpaid")

        events = [e for e in await _events() if e.type.startswith("order.")]
        types = {e.type for e in events}
        assert types == {
            "order.created",
            "order.paid",
            "order.shipped",
            "order.completed",
            "order.cancelled",
            "order.refund_requested",
            "order.refunded",
            "order.refund_rejected",
        }
        for event in events:
            schema = json.loads((SCHEMAS / f"{event.type}.v1.json").read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
            jsonschema.validate(event.data, schema, format_checker=jsonschema.FormatChecker())
            assert event.subject == f"order/{event.data['order_id']}"
            assert event.envelope()["dataschema"] == schema["$id"]

    async def test_a_failed_checkout_emits_nothing(self, client):
        sku = await sku_on_sale(stock=0)
        me, address = await customer()
        from tests.orders.factories import place

        assert (await place(client, me, address, [(sku.id, 1)])).status_code == 409
        assert [e for e in await _events() if e.type.startswith("order.")] == []
