"""The provider interface every payment channel implements, and what it hands back."""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import metadata

import httpx

from app.config import get_settings
from app.errors import AppError
from app.kit import money
from app.orders.models import Order
from app.payments.errors import BadNotification, GatewayError
from app.payments.models import Payment, PaymentRefund


class TradeState(enum.StrEnum):
    success = "success"
    failed = "failed"
    pending = "pending"  # nothing to do yet (not paid, or the gateway does not know the trade)


@dataclass(frozen=True)
class RefundNotice:
    """What a verified refund notice says about one of our refunds."""

    out_refund_no: str
    status: str  # SUCCESS, or the gateway's word for a refund that did not go through (CLOSED, ABNORMAL)
    gateway_refund_no: str | None = None
    amount_fen: int | None = None

    @property
    def done(self) -> bool:
        return self.status == "SUCCESS"


@dataclass(frozen=True)
class VerifiedNotification:
    """A notification whose signature (and, for WeChat, encryption) checked out."""

    state: TradeState
    out_trade_no: str | None = None
    payment_id: int | None = None  # the sandbox names our payment id instead of out_trade_no
    order_no: str | None = None
    amount_fen: int | None = None
    paid_at: datetime | None = None
    gateway_trade_no: str | None = None
    # Correctly signed but for another app, merchant or seller account: the error it is refused with.
    foreign: AppError | None = None
    # Set when the notice is about a refund, not a payment (state is then `pending`: no money was taken).
    refund: RefundNotice | None = None


@dataclass(frozen=True)
class GatewayTrade:
    """What the gateway's query endpoint says about a trade."""

    state: TradeState
    amount_fen: int | None = None
    paid_at: datetime | None = None
    gateway_trade_no: str | None = None


@dataclass(frozen=True)
class RefundOutcome:
    done: bool  # the money is on its way back; False: not yet (processing) — ask again later
    gateway_refund_no: str | None = None


class Provider(abc.ABC):
    channel: str

    @abc.abstractmethod
    def is_configured(self) -> bool: ...

    @abc.abstractmethod
    async def create(self, payment: Payment, order: Order) -> str:
        """Register the payment with the gateway if it needs that; returns the URL the buyer pays at."""

    @abc.abstractmethod
    def verify_notification(self, body: bytes, headers: Mapping[str, str]) -> VerifiedNotification:
        """Check a notification exactly as the gateway documents; raise BadSignature & co. otherwise."""

    @abc.abstractmethod
    async def query(self, payment: Payment) -> GatewayTrade: ...

    @abc.abstractmethod
    async def refund(self, payment: Payment, refund: PaymentRefund) -> RefundOutcome:
        """Refund the whole payment. Sent again with the same `refund.out_refund_no` it refunds nothing more."""

    async def prepare(self, headers: Mapping[str, str]) -> None:
        """Load what verifying a notice needs that is not in the settings (fetched platform certificates)."""
        return None

    def notice_key(self, body: bytes) -> str | None:
        """What stays the same when the gateway resends this notice (read unverified, for bookkeeping)."""
        return None

    async def close(self, payment: Payment) -> bool:
        """Close an unpaid trade at the gateway so it can no longer be paid. True when it is closed (or the
        gateway never heard of it); False when the buyer paid first (the late-payment refund takes over)."""
        return True


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=get_settings().payment_gateway_timeout_seconds)


@lru_cache
def user_agent() -> str:
    """Who is calling, as gateways require (WeChat Pay refuses a request without one)."""
    try:
        version = metadata.version("daoxiang")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"Daoxiang/{version} (Wuchang rice shop) httpx/{httpx.__version__}"


async def send(request: httpx.Request) -> httpx.Response:
    """Send a request built by hand (so it carries no client defaults): with our User-Agent and Accept."""
    request.headers.setdefault("User-Agent", user_agent())
    request.headers.setdefault("Accept", "application/json")
    async with http_client() as client:
        try:
            return await client.send(request)
        except httpx.HTTPError as exc:
            raise GatewayError(f"The payment gateway did not answer: {type(exc).__name__}.") from exc


# A base64 RSA signature (2048 to 4096 bits: 344 to 684 characters), nothing else.
BASE64_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{340,1020}={0,2}")


def yuan_to_fen(text: str) -> int:
    """A gateway's amount ('59.90' → 5990, by app.kit.money). Anything that is not a plain amount is a bad
    notification."""
    try:
        return money.yuan_to_fen(text or "")
    except money.NotAnAmount:
        raise BadNotification(f"Not an amount: {text[:20]!r}.") from None
