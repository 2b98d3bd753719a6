"""The sandbox gateway: our own page plays the gateway, so a whole purchase works with no outside service.
Its notifications are JSON signed with HMAC-SHA256 (PAYMENT_SANDBOX_SECRET); the secret never leaves the
server (the page's buttons post to the server, which signs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from app.config import get_settings
from app.orders.models import Order
from app.payments.errors import BadNotification, BadSignature
from app.payments.models import Payment, PaymentRefund
from app.payments.providers.base import (
    GatewayTrade,
    Provider,
    RefundOutcome,
    TradeState,
    VerifiedNotification,
)

SIGNATURE_HEADER = "X-Sandbox-Signature"
# Exactly the hex of an HMAC-SHA256: anything else (empty, other length, non-hex, non-ASCII) is malformed.
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class SandboxNotification(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    payment_id: int
    order_no: str
    amount_fen: int
    status: Literal["success", "failed"]
    paid_at: datetime | None = None


def sign(body: bytes) -> str:
    secret = get_settings().payment_sandbox_secret.encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def notification_body(payment: Payment, order_no: str, status: str, at: datetime) -> bytes:
    return json.dumps(
        {
            "payment_id": payment.id,
            "order_no": order_no,
            "amount_fen": payment.amount_fen,
            "status": status,
            "paid_at": at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


class SandboxProvider(Provider):
    channel = "sandbox"

    def is_configured(self) -> bool:
        return get_settings().sandbox_payments_enabled

    async def create(self, payment: Payment, order: Order) -> str:
        return f"{get_settings().public_base_url.rstrip('/')}/pay/sandbox/{payment.id}"

    def notice_key(self, body: bytes) -> str | None:
        try:
            data = json.loads(body)
            return f"{int(data['payment_id'])}:{str(data['status'])[:16]}"
        except (ValueError, KeyError, TypeError):
            return None

    def verify_notification(self, body: bytes, headers: Mapping[str, str]) -> VerifiedNotification:
        given = (headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER) or "").strip()
        if not _SIGNATURE.fullmatch(given):
            raise BadSignature("The X-Sandbox-Signature header is not 64 hexadecimal digits.")
        if not hmac.compare_digest(sign(body), given.lower()):
            raise BadSignature("The X-Sandbox-Signature header does not match the body.")
        try:
            note = SandboxNotification.model_validate_json(body)
        except ValidationError as exc:
            raise BadNotification("The notification is not the documented JSON.") from exc
        if note.paid_at is not None and note.paid_at.tzinfo is None:
            raise BadNotification("paid_at needs a time zone.")
        return VerifiedNotification(
            state=TradeState.success if note.status == "success" else TradeState.failed,
            payment_id=note.payment_id,
            order_no=note.order_no,
            amount_fen=note.amount_fen,
            paid_at=note.paid_at,
            gateway_trade_no=f"SANDBOX{note.payment_id}",
        )

    async def query(self, payment: Payment) -> GatewayTrade:
        # The sandbox keeps no state of its own: what it knows, it has already told us.
        return GatewayTrade(state=TradeState.pending)

    async def refund(self, payment: Payment, refund: PaymentRefund) -> RefundOutcome:
        return RefundOutcome(done=True, gateway_refund_no=f"SANDBOX-{refund.out_refund_no}")
