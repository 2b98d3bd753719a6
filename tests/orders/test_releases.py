"""What an order kind reserves goes back through its own release (app.orders.releases), never into SKU
stock it did not take; hooks on unpaid cancellation run for the buyer's cancel and the timeout, not for a
refund; a kind nobody registered fails loudly instead of inventing stock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope, utcnow
from app.orders import releases
from app.orders import service as orders_service
from app.orders.models import Order
from app.orders.state import SYSTEM
from app.worker import run_job
from tests.orders.factories import customer, get_order, pay, pending_order, sku_on_sale, stock_of
from tests.users.factories import auth


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(releases, "_give_back", {})
    monkeypatch.setattr(releases, "_unpaid_cancel_hooks", {})
    given_back: list[tuple[str, list[int]]] = []
    cancelled: list[int] = []

    def give_back(kind: str):
        async def _give_back(session: AsyncSession, ids: Sequence[int]) -> None:
            given_back.append((kind, list(ids)))

        return _give_back

    async def on_cancel(session: AsyncSession, ids: Sequence[int]) -> None:
        cancelled.extend(ids)

    return give_back, on_cancel, given_back, cancelled


async def _make_kind(order_id: int, kind: str) -> None:
    async with session_scope() as session:
        await session.execute(update(Order).where(Order.id == order_id).values(kind=kind))


class TestReleases:
    async def test_a_registered_kind_gives_back_through_its_release_not_sku_stock(self, client, registry):
        give_back, on_cancel, given_back, cancelled = registry
        releases.reserve_with("flash_sale", give_back("flash_sale"))
        releases.on_unpaid_cancel("test", on_cancel)
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=3)
        await _make_kind(order["id"], "flash_sale")
        r = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        assert r.status_code == 200 and r.json()["kind"] == "flash_sale"
        assert given_back == [("flash_sale", [order["id"]])]
        assert cancelled == [order["id"]]
        assert await stock_of(sku.id) == 7  # the flash sale's release decides where the units go

    async def test_standard_orders_return_stock_and_run_the_cancel_hooks(self, client, registry):
        _, on_cancel, given_back, cancelled = registry
        releases.on_unpaid_cancel("test", on_cancel)
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=3)
        assert order["kind"] == "standard" and order["items"][0]["discount_fen"] == 0
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        assert await stock_of(sku.id) == 10 and given_back == [] and cancelled == [order["id"]]

    async def test_the_timeout_runs_the_hooks_once_for_every_order_it_cancels(self, client, registry):
        give_back, on_cancel, given_back, cancelled = registry
        releases.reserve_with("flash_sale", give_back("flash_sale"))
        releases.on_unpaid_cancel("test", on_cancel)
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        first = await pending_order(client, me, address, sku, qty=1)
        second = await pending_order(client, me, address, sku, qty=2)
        await _make_kind(second["id"], "flash_sale")
        async with session_scope() as session:
            await session.execute(update(Order).values(pay_deadline=utcnow()))
        assert await run_job("orders.cancel_unpaid") == 2
        assert await run_job("orders.cancel_unpaid") == 0
        assert sorted(cancelled) == sorted([first["id"], second["id"]])
        assert given_back == [("flash_sale", [second["id"]])]
        assert await stock_of(sku.id) == 8  # only the standard order's unit came back to the SKU

    async def test_a_refund_gives_back_the_reservation_but_runs_no_cancel_hook(self, client, registry):
        give_back, on_cancel, given_back, cancelled = registry
        releases.reserve_with("flash_sale", give_back("flash_sale"))
        releases.on_unpaid_cancel("test", on_cancel)
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=2)
        await _make_kind(order["id"], "flash_sale")
        await pay(order["id"])
        async with session_scope() as session:
            await orders_service.begin_refund(session, order["id"], actor=SYSTEM, reason="不想要了")
        async with session_scope() as session:
            assert await orders_service.complete_refund(session, order["id"])
        assert (await get_order(order["id"])).status == "refunded"
        assert given_back == [("flash_sale", [order["id"]])]  # not shipped: the reservation goes back
        assert cancelled == []  # but a refunded order keeps its coupon used
        assert await stock_of(sku.id) == 8

    async def test_an_unregistered_kind_fails_loudly_instead_of_inventing_stock(self, client, registry):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=3)
        await _make_kind(order["id"], "presale")
        with pytest.raises(releases.UnknownReservation):
            async with session_scope() as session:
                await orders_service.release_stock(
                    session, await orders_service.get_or_raise(session, order["id"])
                )
        assert (await get_order(order["id"])).status == "pending_payment"
        assert await stock_of(sku.id) == 7

    def test_list_stock_kinds_cannot_be_overridden(self) -> None:
        with pytest.raises(ValueError):
            releases.reserve_with("standard", None)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            releases.reserve_with("no_such_kind", None)  # type: ignore[arg-type]
