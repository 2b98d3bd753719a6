"""Pre-sales: staff create and list them (and see who is behind on the balance), the public reads them, the
checkout's `presale` kind (app.checkout.presale) asks `check_order` whether a deposit may be taken, and
orders calls back here (registered by app.flows.order_kinds): the quota goes back once when an order ends
unpaid or is refunded unshipped (`give_back_orders`), a paid order ships only from `ships_from` and takes
the SKU's stock then (`check_ship`), a deposit is refunded on request only where the rule says
(`check_refund`). The two payments are app.presales.payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.orders import repository as orders_repository
from app.orders.errors import OutOfStock
from app.orders.models import Order, OrderStatus
from app.presales import repository
from app.presales.errors import (
    DepositNotRefundable,
    NotShippableYet,
    PresaleNotFound,
    PresaleNotOpen,
    PresaleSoldOut,
    SkuNotFound,
)
from app.presales.models import Presale, PresaleOrder
from app.presales.schemas import PresaleCreate, PresaleOrderRead
from app.users.models import User

S = OrderStatus
JOB_BATCH = 100


def sold_out() -> PresaleSoldOut:
    return PresaleSoldOut("This pre-sale's quota is sold out.")


# ---------------------------------------------------------------------------------------------- reading


async def get_or_raise(session: AsyncSession, presale_id: int) -> Presale:
    presale = await repository.get(session, presale_id)
    if presale is None:
        raise PresaleNotFound("No such pre-sale.")
    return presale


async def list_all(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[Presale], int]:
    return await repository.list_all(session, offset, limit)


async def open_for_skus(session: AsyncSession, sku_ids: Sequence[int]) -> Sequence[Presale]:
    """What the product page shows: the pre-sales of its SKUs still taking deposits."""
    return await repository.open_for_skus(session, sku_ids, utcnow())


def stage(order: Order, presale: Presale, now: datetime) -> str:
    """deposit (to pay, or paid and waiting for the balance window) → balance (the window is open) → paid;
    closed for an order cancelled or refunded."""
    if order.status == S.pending_payment:
        return "deposit"
    if order.status == S.deposit_paid:
        return "balance" if now >= presale.balance_starts_at else "deposit"
    if order.status in (S.paid, S.shipped, S.completed):
        return "paid"
    return "closed"


def amount_due(order: Order, share: PresaleOrder) -> int:
    """What the next payment must be: the deposit, then the balance with the shipping; 0 after."""
    if order.status == S.pending_payment:
        return share.deposit_fen
    if order.status == S.deposit_paid:
        return order.total_fen - share.deposit_fen
    return 0


def to_read(share: PresaleOrder, order: Order, presale: Presale, now: datetime) -> PresaleOrderRead:
    return PresaleOrderRead(
        order_id=order.id,
        order_no=order.order_no,
        presale_id=presale.id,
        sku_id=presale.sku_id,
        quantity=share.quantity,
        status=order.status,
        stage=stage(order, presale, now),  # type: ignore[arg-type]
        deposit_fen=share.deposit_fen,
        balance_fen=share.balance_fen,
        shipping_fen=order.shipping_fen,
        amount_due_fen=amount_due(order, share),
        balance_starts_at=presale.balance_starts_at,
        balance_ends_at=presale.balance_ends_at,
        ships_from=presale.ships_from,
    )


async def view(session: AsyncSession, order_id: int) -> PresaleOrderRead | None:
    found = await repository.view_of(session, order_id)
    return to_read(*found, utcnow()) if found is not None else None


async def with_stage(
    session: AsyncSession, order: dict[str, Any], presale_id: int, quantity: int
) -> dict[str, Any]:
    """The checkout's answer (a new order's JSON, or the saved answer of a repeat) with the pre-sale's
    fields: deposit_fen and balance_fen (times quantity), amount_due_fen (the deposit) and stage (deposit),
    as the order was placed (CONTRACT "New-harvest pre-sale"). Reckoned from the pre-sale, which never
    changes, rather than read back: the lean store's order was committed on another connection."""
    presale = await get_or_raise(session, presale_id)
    deposit = presale.deposit_fen * quantity
    return {
        **order,
        "presale_id": presale_id,
        "deposit_fen": deposit,
        "balance_fen": presale.balance_fen * quantity,
        "amount_due_fen": deposit,
        "stage": "deposit",
    }


async def list_mine(
    session: AsyncSession, user: User, offset: int, limit: int
) -> tuple[list[PresaleOrderRead], int]:
    rows, total = await repository.views_for_user(session, user.id, offset, limit)
    now = utcnow()
    return [to_read(*row, now) for row in rows], total


async def behind(
    session: AsyncSession, presale_id: int, offset: int, limit: int
) -> tuple[list[tuple[PresaleOrderRead, int, str]], int]:
    """The orders of a pre-sale whose deposit is paid and balance is not: (order, user id, buyer phone)."""
    await get_or_raise(session, presale_id)
    now = utcnow()
    rows, total = await repository.behind(session, presale_id, now, offset, limit)
    out = []
    for share, order, presale in rows:
        phone = await orders_repository.buyer_phone(session, order.user_id)
        out.append((to_read(share, order, presale, now), order.user_id, phone))
    return out, total


# ---------------------------------------------------------------------------------------------- staff


async def create(session: AsyncSession, staff: User, data: PresaleCreate) -> Presale:
    if not await orders_repository.sku_rows(session, [data.sku_id]):
        raise SkuNotFound("No such SKU.")
    presale = await repository.insert_presale(
        session,
        {
            "sku_id": data.sku_id,
            "deposit_fen": data.deposit_fen,
            "balance_fen": data.balance_fen,
            "quota": data.quota,
            "remaining": data.quota,
            "deposit_ends_at": data.deposit_ends_at,
            "balance_starts_at": data.balance_starts_at,
            "balance_ends_at": data.balance_ends_at,
            "ships_from": data.ships_from,
            "refund_deposit_if_unpaid": data.refund_deposit_if_unpaid,
            "created_by": staff.id,
        },
    )
    await events.emit(
        session,
        "presale.created",
        {
            "presale_id": presale.id,
            "sku_id": data.sku_id,
            "deposit_fen": data.deposit_fen,
            "balance_fen": data.balance_fen,
            "quota": data.quota,
            "deposit_ends_at": data.deposit_ends_at.isoformat(),
            "balance_starts_at": data.balance_starts_at.isoformat(),
            "balance_ends_at": data.balance_ends_at.isoformat(),
            "ships_from": data.ships_from.isoformat(),
            "refund_deposit_if_unpaid": data.refund_deposit_if_unpaid,
            "created_by": staff.id,
        },
        subject=f"presale/{presale.id}",
    )
    return presale


# ---------------------------------------------------------------------------------------------- checkout


def check_order(presale: Presale, quantity: int, at: datetime) -> None:
    """The database's word before the quota is taken: still taking deposits, enough quota left (the
    conditional UPDATE decides a race; this answers the common case with the right refusal)."""
    if at >= presale.deposit_ends_at:
        raise PresaleNotOpen("This pre-sale no longer takes deposits.")
    if presale.remaining < quantity:
        raise sold_out()


# ---------------------------------------------------------------------------------------------- orders' hooks


async def give_back_orders(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """The release of pre-sale orders (app.orders.releases, once per order, in the transaction that cancels or
    refunds it unshipped): the quota goes back to the pre-sale."""
    at = utcnow()
    for share in await repository.shares_to_release(session, order_ids):
        if await repository.mark_once(session, share.id, "released_at", at):
            await repository.give_back(session, share.presale_id, share.quantity, at)


async def check_ship(session: AsyncSession, order: Order) -> None:
    """Staff ship a paid pre-sale order: not before ships_from; the SKU's stock is taken now (once)."""
    share = await repository.share_of(session, order.id)
    if share is None:
        return
    presale = await get_or_raise(session, share.presale_id)
    now = utcnow()
    if now < presale.ships_from:
        raise NotShippableYet(
            f"This pre-sale ships from {presale.ships_from.isoformat()}.",
            ships_from=presale.ships_from.isoformat(),
        )
    if share.stock_taken_at is not None:
        return
    if not await orders_repository.take_stock(session, presale.sku_id, share.quantity):
        raise OutOfStock("Not enough stock to ship this pre-sale order yet.", sku_ids=[presale.sku_id])
    await repository.mark_once(session, share.id, "stock_taken_at", now)


async def check_refund(session: AsyncSession, order: Order) -> None:
    """A refund asked for before the balance: the deposit goes back only where the pre-sale says so."""
    share = await repository.share_of(session, order.id)
    presale = await get_or_raise(session, share.presale_id) if share is not None else None
    if presale is None or not presale.refund_deposit_if_unpaid:
        raise DepositNotRefundable("This pre-sale's deposit is not refundable.")
