"""The buyer is told at each step of a pre-sale: what the notifications say for the events it emits."""

from __future__ import annotations

from datetime import timedelta

from app.db import session_scope
from app.notifications import templates
from app.presales import tasks as presales_tasks
from tests.orders.factories import customer, sku_on_sale
from tests.payments.factories import events_of
from tests.presales.factories import create_presale, order, pay_stage


async def test_deposit_paid_then_balance_due_are_written_for_the_buyer(client, shop_clock):
    presale = await create_presale(await sku_on_sale(price_fen=8800))
    user, address = await customer()
    placed = (await order(client, user, address, presale)).json()
    await pay_stage(client, user, placed)
    shop_clock.advance(timedelta(days=21))
    async with session_scope() as session:
        await presales_tasks.notify_balance_open(session)
    [deposit] = await events_of("order.deposit_paid")
    [due] = await events_of("presale.balance_due")
    told = templates.render("order.deposit_paid", deposit)
    assert told is not None and told.user_id == user.id and told.link == "/presales/mine"
    assert "已支付定金 ¥20.00" in told.body and placed["order_no"] in told.body
    balance = placed["total_fen"] - placed["deposit_fen"]
    told = templates.render("presale.balance_due", due)
    assert told is not None and told.title == "预售尾款开始支付"
    assert f"尾款 ¥{balance / 100:.2f}" in told.body
