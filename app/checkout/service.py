"""place_order: the checkout pipeline (app.checkout.pipeline) on the store of this database, under the
store's Idempotency-Key protocol, retried on deadlocks. Returns what happened (`PlacedOrder`), never an
HTTP status: the route and the pages decide how to answer."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.adoptions.schemas import AdoptCreate
from app.checkout import adoption, flash_sale, pipeline, presale
from app.checkout.request import body_hash
from app.checkout.stores import (
    IdempotentRequest,
    KeyAlreadyStored,
    KeyInUse,
    LeanCheckoutStore,
    OrmCheckoutStore,
)
from app.config import get_settings
from app.db import session_scope, utcnow
from app.flash_sales.schemas import FlashSaleOrderCreate
from app.kit import leandb
from app.orders import idempotency
from app.orders.errors import IdempotencyKeyReused, RequestInProgress
from app.orders.schemas import OrderCreate
from app.presales import service as presales_service
from app.presales.schemas import PresaleOrderCreate
from app.users import revocation
from app.users.models import Principal, User

log = logging.getLogger("daoxiang.orders")

# MariaDB: 1213 deadlock (the transaction was rolled back), 1205 lock wait timeout.
RETRYABLE_DB_ERRORS = {1213, 1205}
CHECKOUT_ATTEMPTS = 4
CHECKOUT_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The order as placed (its JSON form); `replayed`: the saved answer to an earlier request with the
    same Idempotency-Key and body (the same order, created then)."""

    order: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    user_id: int
    data: OrderCreate
    key: IdempotentRequest | None
    kind: pipeline.OrderKind = pipeline.STANDARD
    offer: Any = None
    caller: pipeline.CallerCheck | None = None


class Backend(Protocol):
    """One store and its Idempotency-Key protocol."""

    async def place(self, session: AsyncSession, request: CheckoutRequest) -> PlacedOrder: ...


async def place_order(
    session: AsyncSession,
    user: User | Principal,
    data: OrderCreate,
    *,
    idempotency_key: str | None,
    kind: pipeline.OrderKind = pipeline.STANDARD,
    store: Backend | None = None,
    offer: Any = None,
    caller: pipeline.CallerCheck | None = None,
) -> PlacedOrder:
    """Checkout of an order of `kind` for `user`; with an Idempotency-Key a repeat gets the saved answer.
    `store` overrides the one chosen for this database (the contract suite runs both on MariaDB); `offer`
    is what the kind's own steps need beyond the body (a flash sale's FlashSaleOffer), and the key's stored
    request covers it too. `caller`: `user`'s access token, not yet checked for revocation: checked in the
    order's transaction against the customer's locked row (pipeline.CallerCheck; raises
    pipeline.CallerRefused)."""
    assert user.id is not None
    if isinstance(user, User):
        # Detached, the loaded user survives the rollbacks below (retries, a failed claim) without a reload.
        session.expunge(user)
    key = (
        IdempotentRequest(
            user.id, idempotency_key, body_hash(data, offer.key_fields() if offer is not None else None)
        )
        if idempotency_key is not None
        else None
    )
    return await (store or backend()).place(session, CheckoutRequest(user.id, data, key, kind, offer, caller))


async def place_flash_sale_order(
    session: AsyncSession,
    user: User | Principal,
    sale_id: int,
    data: FlashSaleOrderCreate,
    *,
    idempotency_key: str | None,
    store: Backend | None = None,
    caller: pipeline.CallerCheck | None = None,
) -> PlacedOrder:
    """An order of kind flash_sale: the pipeline's FLASH_SALE steps on the same store, Idempotency-Key
    protocol and retries as any order. What the request took at the Redis gate goes back when no order of
    its own was placed (a refusal, a failure, or a repeat answered with the first request's order)."""
    assert user.id is not None
    user_id = user.id
    offer = flash_sale.FlashSaleOffer(sale_id, data.quantity)
    # The gate's step, taken before the checkout slot and the store's transaction: most of a rush is refused
    # here without a database connection, keyed requests too when the gate knows their key was never let
    # through (app.flash_sales.gate). A refusal that may be the repeat of a placed request goes on into the
    # pipeline, whose gate step (already taken) looks at the key first: a repeat gets its order.
    refusal = await offer.take_gate(user_id, idempotency_key)
    if refusal is not None and (idempotency_key is None or not offer.maybe_repeat):
        raise refusal
    try:
        placed = await place_order(
            session,
            user,
            OrderCreate(address_id=data.address_id),
            idempotency_key=idempotency_key,
            kind=flash_sale.FLASH_SALE,
            store=store,
            offer=offer,
            caller=caller,
        )
    except BaseException as exc:
        await offer.give_back_gate(user_id, exc)
        raise
    if placed.replayed:
        await offer.give_back_gate(user_id, None)
    return placed


async def place_adoption_order(
    session: AsyncSession,
    user: User | Principal,
    plan_id: int,
    data: AdoptCreate,
    *,
    idempotency_key: str | None,
    store: Backend | None = None,
    caller: pipeline.CallerCheck | None = None,
) -> PlacedOrder:
    """An order of kind adoption: the pipeline's ADOPTION steps (shares of the plan instead of stock) on the
    same store, Idempotency-Key protocol and retries as any order."""
    offer, order = adoption.adopt_offer(plan_id, data)
    return await place_order(
        session,
        user,
        order,
        idempotency_key=idempotency_key,
        kind=adoption.ADOPTION,
        store=store,
        offer=offer,
        caller=caller,
    )


async def place_presale_order(
    session: AsyncSession,
    user: User | Principal,
    presale_id: int,
    data: PresaleOrderCreate,
    *,
    idempotency_key: str | None,
    store: Backend | None = None,
    caller: pipeline.CallerCheck | None = None,
) -> PlacedOrder:
    """A pre-sale's deposit order (kind presale): the pipeline's PRESALE steps on the same store,
    Idempotency-Key protocol and retries as any order; the answer has the pre-sale's fields."""
    placed = await place_order(
        session,
        user,
        OrderCreate(address_id=data.address_id),
        idempotency_key=idempotency_key,
        kind=presale.PRESALE,
        store=store,
        offer=presale.PresaleOffer(presale_id, data.quantity),
        caller=caller,
    )
    order = await presales_service.with_stage(session, placed.order, presale_id, data.quantity)
    return PlacedOrder(order, placed.replayed)


@functools.cache
def _backend_for(database_url: str) -> Backend:
    return LeanBackend() if database_url.startswith("mysql") else OrmBackend()


def backend() -> Backend:
    """The store of this process's database, chosen once: MariaDB/MySQL the lean store, otherwise the ORM."""
    return _backend_for(get_settings().database_url)


# ---------------------------------------------------------------------------------------------- running


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _checkout_slot() -> asyncio.Semaphore:
    """Admission control: at most CHECKOUT_CONCURRENCY checkouts of this process run their transaction at
    once. Where the COMMIT is a round trip of its own (the ORM store, servers that do not enforce CHECK
    constraints) the hot SKU row stays locked from the stock UPDATE until the event loop comes back to send
    it: with fewer transactions in flight it comes back sooner. The others wait here, holding no locks and
    no connection."""
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(CHECKOUT_CONCURRENCY)
    return slot


def _db_error_code(exc: BaseException) -> int | None:
    if isinstance(exc, DBAPIError):
        return exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return leandb.error_code(exc)


async def _in_one_slot_with_retries(
    attempt_once: Callable[[], Awaitable[dict[str, Any]]], undo: Callable[[], Awaitable[None]] | None = None
) -> dict[str, Any]:
    """One checkout slot; the order's transaction retried on deadlocks (`undo` rolls back a failed try)."""
    async with _checkout_slot():
        for attempt in range(1, CHECKOUT_ATTEMPTS + 1):
            try:
                return await attempt_once()
            except Exception as exc:
                code = _db_error_code(exc)
                if code not in RETRYABLE_DB_ERRORS or attempt == CHECKOUT_ATTEMPTS:
                    raise
                log.warning("checkout retried", extra={"db_error": code, "attempt": attempt})
                if undo is not None:
                    await undo()
                await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable")


def _in_progress() -> RequestInProgress:
    return RequestInProgress("A request with this Idempotency-Key is still being processed; retry shortly.")


class OrmBackend:
    """The ORM store in the request's session (its unit of work commits the order). Idempotency-Key: a claim
    row committed in its own short unit of work first; the order's transaction fills in the answer; a
    failed order lets go of the claim (again in a unit of work of its own)."""

    async def place(self, session: AsyncSession, request: CheckoutRequest) -> PlacedOrder:
        claim = None
        caller = request.caller
        if caller is not None and request.key is not None:
            # The claim commits before the order's transaction: a revoked token must not leave one.
            state = await revocation.state(session, request.user_id)
            caller.accepted = revocation.accepts(state, caller.claims)
            if not caller.accepted:
                raise pipeline.CallerRefused
        if request.key is not None:
            key = request.key
            if session.in_transaction():
                # The request has only read so far (who is calling): end that read, never commit it, so that
                # the claim's unit of work takes this connection instead of holding a second one (twenty
                # parallel checkouts must not need forty connections).
                await session.rollback()
            async with session_scope() as claim_session:
                outcome = await idempotency.claim(claim_session, key.user_id, key.key, key.body_hash)
            if isinstance(outcome, idempotency.SavedResponse):
                return PlacedOrder(outcome.body, replayed=True)
            claim = outcome
        store = OrmCheckoutStore(session, claim.row_id if claim is not None else None)
        try:
            body = await _in_one_slot_with_retries(
                lambda: pipeline.run(
                    request.kind, store, request.user_id, request.data, caller, request.offer
                ),
                session.rollback,
            )
        except BaseException:
            if claim is not None:
                # Undo our half of the work first: the claim row may be locked by this very transaction.
                await session.rollback()
                async with session_scope() as release_session:
                    await idempotency.release(release_session, claim)
            raise
        return PlacedOrder(body)


class LeanBackend:
    """The lean store in its own short transaction on app.kit.leandb's pool. Idempotency-Key: the key's row
    is inserted with the order, without waiting (app.checkout.stores); a key already stored is answered
    from its row, and a claim left by a request that died is removed after IDEMPOTENCY_STALE_CLAIM_SECONDS
    so the key can be used again."""

    async def place(self, session: AsyncSession, request: CheckoutRequest) -> PlacedOrder:
        pool = leandb.get_pool(transactions=True)
        assert pool is not None, "the lean store needs MariaDB/MySQL"

        async def once() -> dict[str, Any]:
            async with pool.transaction() as tx:
                store = LeanCheckoutStore(
                    tx,
                    session,
                    request.key,
                    nowait_keys=pool.is_mariadb,
                    commit_with_stock=pool.enforces_checks,
                )
                body = await pipeline.run(
                    request.kind, store, request.user_id, request.data, request.caller, request.offer
                )
                assert not store.queued, "every queued write is sent with the stock UPDATE"
                return body

        for _ in range(3):
            try:
                return PlacedOrder(await _in_one_slot_with_retries(once))
            except KeyInUse:
                raise _in_progress() from None
            except KeyAlreadyStored:
                assert request.key is not None
                saved = await _stored_answer(request.key)
                if saved is not None:
                    return saved
                # the row went (its request failed, or it was a stale claim we removed): try again
        raise _in_progress()


KEY_ROW_SQL = (
    "SELECT id, request_hash, response_status, response_body, claimed_at FROM idempotency_keys"
    " WHERE user_id = %s AND `key` = %s"
)
REMOVE_STALE_SQL = (
    "DELETE FROM idempotency_keys WHERE id = %s AND response_status IS NULL AND claimed_at = %s"
)


async def _stored_answer(key: IdempotentRequest) -> PlacedOrder | None:
    """The answer stored under `key`; None when the key is free again (try the order again). Raises
    IdempotencyKeyReused for another body, RequestInProgress while its request runs."""
    pool = leandb.get_pool()
    assert pool is not None
    async with pool.cursor() as cur:
        await cur.execute(KEY_ROW_SQL, (key.user_id, key.key))
        row = await cur.fetchone()
        if row is None:
            return None
        row_id, stored_hash, status, body, claimed_at = row
        if stored_hash != key.body_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
        if status is not None:
            return PlacedOrder(json.loads(body or "{}"), replayed=True)
        # A claim row without an answer (app.orders.idempotency, or one left by an older release): stale
        # after IDEMPOTENCY_STALE_CLAIM_SECONDS, when its request can no longer be running.
        stale_before = utcnow() - timedelta(seconds=get_settings().idempotency_stale_claim_seconds)
        if claimed_at.replace(tzinfo=UTC) < stale_before:
            await cur.execute(REMOVE_STALE_SQL, (row_id, claimed_at))
            return None
    raise _in_progress()
