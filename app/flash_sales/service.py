"""Flash sales (秒杀): staff create and cancel them, the public reads them, the worker closes them, and the
checkout's flash-sale kind (app.checkout.flash_sale.FLASH_SALE) asks `check_purchase` whether a purchase may
go ahead.

Units move exactly once each way: taken from the SKU's stock at creation (conditional UPDATE), taken by an
order from `remaining` (checkout's conditional UPDATE, guarded by CHECK (remaining >= 0)), given back by a
cancelled or timed-out order to the sale while it is open and to the stock after (`give_back_orders`,
registered with orders at start-up), and what is unsold goes back to the stock when the sale closes
(`close`, a conditional UPDATE that only one caller wins).

The clock is `now()` (tests move it with monkeypatch), the Redis gate is app.flash_sales.gate.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import after_commit, utcnow
from app.errors import AppError
from app.flash_sales import gate, repository
from app.flash_sales.errors import (
    FlashSaleClosed,
    FlashSaleLimitReached,
    FlashSaleNotActive,
    FlashSaleNotFound,
    OutOfStock,
    SkuNotFound,
    SoldOut,
)
from app.flash_sales.models import FlashSale
from app.flash_sales.schemas import FlashSaleCreate
from app.orders import repository as orders_repository
from app.redis import get_redis
from app.users.models import User

log = logging.getLogger("daoxiang.flash_sales")

JOB_BATCH = 100
# Sales listed publicly (current and upcoming) at most.
PUBLIC_LIST_LIMIT = 100


def now() -> datetime:
    """The flash sales' clock: windows, closing, the gate (monkeypatched by tests)."""
    return utcnow()


class SaleState(NamedTuple):
    """A sale as checkout reads it (after locking the customer's row), with what the customer holds."""

    sku_id: int
    price_fen: int
    remaining: int
    per_customer_limit: int
    starts_at: datetime
    ends_at: datetime
    closed_at: datetime | None
    held: int


def is_running(starts_at: datetime, ends_at: datetime, closed_at: datetime | None, at: datetime) -> bool:
    return closed_at is None and starts_at <= at < ends_at


def not_active() -> FlashSaleNotActive:
    return FlashSaleNotActive("This flash sale is not running.")


def limit_reached() -> FlashSaleLimitReached:
    return FlashSaleLimitReached("You already hold as many of this flash sale as one customer may.")


def sold_out() -> SoldOut:
    return SoldOut("This flash sale is sold out.")


def check_purchase(state: SaleState, quantity: int, at: datetime) -> None:
    """The database's word on a purchase (the gate only filters): running, within the customer's limit,
    enough left; refused in this order, with the same errors as the gate's."""
    if not is_running(state.starts_at, state.ends_at, state.closed_at, at):
        raise not_active()
    if state.held + quantity > state.per_customer_limit:
        raise limit_reached()
    if state.remaining < quantity:
        raise sold_out()


def gate_refusal(answer: gate.Gate | None) -> AppError | None:
    """The refusal the gate's answer stands for (None: it let the purchase through, or cannot say)."""
    refusals = {
        gate.Gate.NOT_ACTIVE: not_active,
        gate.Gate.LIMIT: limit_reached,
        gate.Gate.SOLD_OUT: sold_out,
    }
    make = refusals.get(answer) if answer is not None else None
    return make() if make is not None else None


# ---------------------------------------------------------------------------------------------- reading


async def get_or_raise(session: AsyncSession, sale_id: int) -> FlashSale:
    sale = await repository.get(session, sale_id)
    if sale is None:
        raise FlashSaleNotFound("No such flash sale.")
    return sale


async def list_current(
    session: AsyncSession, offset: int = 0, limit: int = PUBLIC_LIST_LIMIT
) -> tuple[Sequence[FlashSale], int]:
    """Running and upcoming sales, soonest first (a sale staff cancelled is closed: not listed)."""
    return await repository.list_open(session, now(), offset, limit)


class SkuDetail(NamedTuple):
    product_id: int
    product_name: str
    sku_name: str
    list_price_fen: int


async def sku_details(session: AsyncSession, sku_ids: Sequence[int]) -> dict[int, SkuDetail]:
    """What the pages show of the sales' SKUs: product, SKU name and list price."""
    rows = await orders_repository.sku_rows(session, set(sku_ids))
    return {
        sku_id: SkuDetail(row.product_id, row.product_name, row.name, row.price_fen)
        for sku_id, row in rows.items()
    }


async def list_for_staff(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[FlashSale], int]:
    return await repository.list_all(session, offset, limit)


# ---------------------------------------------------------------------------------------------- staff


async def create(session: AsyncSession, staff: User, data: FlashSaleCreate) -> FlashSale:
    """The sale's units are taken from the SKU's stock now (all or nothing); its gate is made once the
    sale is committed."""
    if not await orders_repository.sku_rows(session, [data.sku_id]):
        raise SkuNotFound("No such SKU.")
    if not await orders_repository.take_stock(session, data.sku_id, data.quantity):
        raise OutOfStock(
            "Not enough stock for this flash sale's quantity; nothing was taken.", sku_ids=[data.sku_id]
        )
    sale = await repository.insert_sale(
        session,
        {
            "sku_id": data.sku_id,
            "price_fen": data.price_fen,
            "quantity": data.quantity,
            "remaining": data.quantity,
            "per_customer_limit": data.per_customer_limit,
            "starts_at": data.starts_at,
            "ends_at": data.ends_at,
            "created_by": staff.id,
        },
    )
    await events.emit(
        session,
        "flash_sale.created",
        {
            "flash_sale_id": sale.id,
            "sku_id": sale.sku_id,
            "price_fen": sale.price_fen,
            "quantity": sale.quantity,
            "per_customer_limit": sale.per_customer_limit,
            "starts_at": data.starts_at.isoformat(),
            "ends_at": data.ends_at.isoformat(),
            "created_by": staff.id,
        },
        subject=f"flash_sale/{sale.id}",
    )
    after_commit(
        session,
        f"flash_sale.gate.{sale.id}",
        _reset_hook(sale.id, data.quantity, data.per_customer_limit, data.starts_at, data.ends_at),
    )
    return sale


def _reset_hook(
    sale_id: int, remaining: int, limit: int, starts_at: datetime, ends_at: datetime
) -> Callable[[], Awaitable[None]]:
    async def hook() -> None:
        await gate.reset(
            sale_id,
            remaining=remaining,
            limit=limit,
            starts_at=starts_at,
            ends_at=ends_at,
            held=(),
            keys_complete=True,
        )

    return hook


async def cancel(session: AsyncSession, staff: User, sale_id: int) -> FlashSale:
    """Staff end a sale early: what remains goes back to the stock now; unpaid orders of it keep their units
    until they are paid or cancelled (then to the stock)."""
    await get_or_raise(session, sale_id)
    if not await _close(session, sale_id, reason="cancelled"):
        raise FlashSaleClosed("This flash sale is already closed.")
    return await get_or_raise(session, sale_id)


async def _close(session: AsyncSession, sale_id: int, *, reason: str) -> bool:
    at = now()
    returned = await repository.close(session, sale_id, at, cancelled=reason == "cancelled")
    if returned is None:
        return False
    sale = await get_or_raise(session, sale_id)
    if returned:
        await orders_repository.put_back_stock(session, {sale.sku_id: returned})
    await events.emit(
        session,
        "flash_sale.closed",
        {
            "flash_sale_id": sale_id,
            "sku_id": sale.sku_id,
            "reason": reason,
            "returned_to_stock": returned,
            "closed_at": at.isoformat(),
        },
        subject=f"flash_sale/{sale_id}",
    )
    after_commit(session, f"flash_sale.gate.{sale_id}", lambda: gate.remove(sale_id))
    return True


# ---------------------------------------------------------------------------------------------- orders


async def give_back_orders(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """The release of flash-sale orders (app.orders.releases: called once per order, in the transaction that
    cancels it or refunds it unshipped). The units go back to the sale while it is open, to the SKU's stock
    once it is closed; the customer's holding goes down; the gate follows once that has committed."""
    at = utcnow()
    to_stock: dict[int, int] = defaultdict(int)
    for purchase in await repository.purchases_to_release(session, order_ids):
        if not await repository.release_purchase(session, purchase.id, at):
            continue
        to_sale = await repository.return_to_sale(session, purchase.sale_id, purchase.quantity, at)
        if not to_sale:
            sale = await get_or_raise(session, purchase.sale_id)
            to_stock[sale.sku_id] += purchase.quantity
        after_commit(
            session,
            f"flash_sale.give_back.{purchase.id}",
            _give_back_hook(
                purchase.sale_id,
                purchase.user_id,
                units=purchase.quantity if to_sale else 0,
                held=purchase.quantity,
            ),
        )
    if to_stock:
        await orders_repository.put_back_stock(session, dict(to_stock))


def _give_back_hook(sale_id: int, user_id: int, *, units: int, held: int) -> Callable[[], Awaitable[None]]:
    async def hook() -> None:
        await gate.give_back(sale_id, user_id, units=units, held=held)

    return hook


# ---------------------------------------------------------------------------------------------- jobs


async def close_ended(session: AsyncSession) -> int:
    """Close the sales whose window is over: the unsold units go back to the stock, once (several workers
    may run this at the same time: the close is a conditional UPDATE)."""
    closed = 0
    for sale_id in await repository.due_to_close(session, now(), JOB_BATCH):
        if await _close(session, sale_id, reason="ended"):
            closed += 1
    return closed


async def reconcile_gates(session: AsyncSession) -> int:
    """Make every open sale's gate say what the database says (remaining, and what each customer holds):
    after a crash between taking the gate and the order's commit, or a Redis that lost its data. Returns
    how many gates differed. Without Redis: nothing to do."""
    if get_redis() is None:
        return 0
    fixed = 0
    for sale in await repository.gated(session, JOB_BATCH):
        held = await repository.holdings(session, sale.id)
        current = await gate.state(sale.id)
        if current == (sale.remaining, dict(held)):
            continue
        if current is not None:
            log.warning(
                "flash sale gate differed from the database",
                extra={"sale_id": sale.id, "gate_remaining": current[0], "db_remaining": sale.remaining},
            )
        # A holding the gate has not seen (or no gate at all) is an order placed on the database alone: its
        # Idempotency-Key is not in the gate's list, so keyed refusals must ask the database from now on.
        gate_held = current[1] if current is not None else None
        unseen = gate_held is None or any(units > gate_held.get(user_id, 0) for user_id, units in held)
        if await gate.reset(
            sale.id,
            remaining=sale.remaining,
            limit=sale.per_customer_limit,
            starts_at=sale.starts_at,
            ends_at=sale.ends_at,
            held=held,
            keys_complete=False if unseen else None,
        ):
            fixed += 1
    return fixed
