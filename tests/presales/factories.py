"""Pre-sales for tests: made by staff through the service, ordered and paid through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.catalog.models import Sku
from app.db import session_scope, utcnow
from app.presales import service as presales_service
from app.presales.models import Presale
from app.presales.schemas import PresaleCreate
from app.users.models import Address, Role, User
from tests.payments.factories import sandbox_body, sandbox_notify, start_payment
from tests.users.factories import auth, create_user

DEPOSIT_FEN = 2000
BALANCE_FEN = 6800


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def windows(now: datetime | None = None) -> dict[str, datetime]:
    """Deposits for 10 days, the balance from day 20 to day 27, shipping from day 30."""
    now = now or utcnow()
    return {
        "deposit_ends_at": now + timedelta(days=10),
        "balance_starts_at": now + timedelta(days=20),
        "balance_ends_at": now + timedelta(days=27),
        "ships_from": now + timedelta(days=30),
    }


def body(sku_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "sku_id": sku_id,
        "deposit_fen": DEPOSIT_FEN,
        "balance_fen": BALANCE_FEN,
        "quota": 100,
        **{k: iso(v) for k, v in windows().items()},
        "refund_deposit_if_unpaid": False,
        **overrides,
    }


async def create_presale(sku: Sku, **overrides: Any) -> Presale:
    staff = await create_user(role=Role.merchant, nickname="店员")
    values: dict[str, Any] = {
        "deposit_fen": DEPOSIT_FEN,
        "balance_fen": BALANCE_FEN,
        "quota": 100,
        **windows(),
    }
    data = PresaleCreate(sku_id=sku.id, **{**values, **overrides})
    async with session_scope() as session:
        return await presales_service.create(session, staff, data)


async def order(
    client: httpx.AsyncClient,
    user: User,
    address: Address,
    presale: Presale | int,
    quantity: int = 1,
    *,
    key: str | None = None,
) -> httpx.Response:
    presale_id = presale if isinstance(presale, int) else presale.id
    headers = auth(user)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"/api/presales/{presale_id}/orders",
        json={"address_id": address.id, "quantity": quantity},
        headers=headers,
    )


async def pay_stage(client: httpx.AsyncClient, user: User, placed: dict) -> tuple[dict, httpx.Response]:
    """Start a sandbox payment of what is due now and have the gateway confirm it."""
    payment = await start_payment(client, user, placed["id"])
    notice = sandbox_body(payment, placed, paid_at=iso(utcnow()))
    return payment, await sandbox_notify(client, notice)


async def remaining(presale_id: int) -> int:
    async with session_scope() as session:
        stmt = select(Presale.remaining).where(Presale.id == presale_id)
        return (await session.execute(stmt)).scalar_one()


async def mine(client: httpx.AsyncClient, user: User) -> list[dict]:
    response = await client.get("/api/users/me/presale-orders", headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()["items"]
