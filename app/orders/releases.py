"""What an order gives back when it ends unpaid or is refunded before shipping, for the kinds that reserve
something other than SKU stock, and what other domains must undo when an unpaid order is cancelled.

Orders sits below the domains that sell through it (coupons, flash sales, pre-sales...) and never imports
them. Each registers here, once at start-up (`app.flows.order_kinds.install`, called by the app and the
worker), what orders must call inside the same transaction:

- `reserve_with(kind, give_back)`: how an order of `kind` gives back what it reserved, instead of putting
  its lines' quantities back into SKU stock (a flash sale's units go back to the sale while it runs).
  Called wherever an order's stock goes back (cancel, timeout, refund before shipping), at most once per
  order (`orders.stock_released_at`).
- `on_unpaid_cancel(hook)`: called with the orders cancelled before payment (by the buyer or at their pay
  deadline), for example to give a coupon back. Not called for refunds: a refunded order keeps its coupon
  used.

- `check_ship_with(kind, check)`: called when staff ship a paid order of `kind`, before it moves, in the
  same transaction: it refuses (an AppError) or takes what it must (a pre-sale's SKU stock, taken only now).
- `check_refund_with(kind, check)`: called when an order of `kind` waiting for the rest of its money
  (`deposit_paid`) asks for a refund: it refuses unless the kind's rule allows it. Without a check such an
  order cannot ask.
- `check_refund_request_with(kind, check)`: called when the customer of a paid or shipped order of `kind`
  asks for a refund, before it moves: a prepaid kind whose goods go out in later orders refuses once they
  have (a subscription is refunded by cancelling it; an adoption once kilograms were drawn).

An order of a kind that is neither `standard` nor registered fails loudly rather than putting units back
into general stock that it never took from there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.errors import InvalidOrderState
from app.orders.models import OrderKind

# (session, ids of the orders of one kind whose release this transaction claimed) -> None
GiveBack = Callable[[AsyncSession, Sequence[int]], Awaitable[None]]
# (session, ids of the orders just cancelled before payment) -> None
UnpaidCancelHook = Callable[[AsyncSession, Sequence[int]], Awaitable[None]]

# (session, the order) -> None; raises the AppError that refuses
OrderCheck = Callable[[AsyncSession, Any], Awaitable[None]]

# The kinds that take SKU stock at checkout, which orders itself puts back (a prepaid delivery order, whose
# goods were paid for by an earlier order, takes its stock like a standard one).
LIST_STOCK = frozenset(
    {OrderKind.standard.value, OrderKind.subscription_delivery.value, OrderKind.adoption_delivery.value}
)

_give_back: dict[str, GiveBack] = {}
_unpaid_cancel_hooks: dict[str, UnpaidCancelHook] = {}
_ship_checks: dict[str, OrderCheck] = {}
_refund_checks: dict[str, OrderCheck] = {}
_refund_request_checks: dict[str, OrderCheck] = {}


class UnknownReservation(RuntimeError):
    """An order of a kind with no registered release: a wiring mistake, never a customer's fault."""


def reserve_with(kind: OrderKind | str, give_back: GiveBack) -> None:
    kind = OrderKind(kind).value
    if kind in LIST_STOCK:
        raise ValueError(f"{kind} orders reserve list stock; orders gives it back itself")
    _give_back[kind] = give_back


def on_unpaid_cancel(name: str, hook: UnpaidCancelHook) -> None:
    """Register `hook` under `name` (registering the same name again replaces it: install is idempotent)."""
    _unpaid_cancel_hooks[name] = hook


def give_back_for(kind: str) -> GiveBack | None:
    """The registered release of `kind`; None for the kinds that reserve list stock."""
    if kind in LIST_STOCK:
        return None
    try:
        return _give_back[kind]
    except KeyError:
        raise UnknownReservation(
            f"no release registered for {kind} orders (app.flows.order_kinds.install not called?)"
        ) from None


async def after_unpaid_cancel(session: AsyncSession, order_ids: Sequence[int]) -> None:
    if not order_ids:
        return
    for hook in _unpaid_cancel_hooks.values():
        await hook(session, order_ids)


def check_ship_with(kind: OrderKind | str, check: OrderCheck) -> None:
    _ship_checks[OrderKind(kind).value] = check


def check_refund_with(kind: OrderKind | str, check: OrderCheck) -> None:
    _refund_checks[OrderKind(kind).value] = check


async def check_ship(session: AsyncSession, order: Any) -> None:
    check = _ship_checks.get(order.kind)
    if check is not None:
        await check(session, order)


async def check_refund(session: AsyncSession, order: Any) -> None:
    """For an order waiting for the rest of its money: the kind's rule, or refused when it has none."""
    check = _refund_checks.get(order.kind)
    if check is None:
        raise InvalidOrderState(f"An order that is {order.status} cannot ask for a refund.")
    await check(session, order)


def check_refund_request_with(kind: OrderKind | str, check: OrderCheck) -> None:
    _refund_request_checks[OrderKind(kind).value] = check


async def check_refund_request(session: AsyncSession, order: Any) -> None:
    """A customer's refund request of a paid or shipped order: the kind's rule, if it has one."""
    check = _refund_request_checks.get(order.kind)
    if check is not None:
        await check(session, order)
