"""WeChat Pay API v3 (微信支付): Native pay (a code_url the buyer scans), notifications, query and refund.

Requests are signed with the merchant's private key over `METHOD\\nPATH\\ntimestamp\\nnonce\\nbody\\n`.
Notifications and answers carry `Wechatpay-Timestamp/-Nonce/-Signature/-Serial`; the signature over
`timestamp\\nnonce\\nbody\\n` must verify with the platform key whose serial is `Wechatpay-Serial`, and the
timestamp must be within five minutes. A notification's `resource` is AEAD_AES_256_GCM-encrypted with the
APIv3 key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import get_settings
from app.kit.time import SHOP_TZ
from app.orders.models import Order
from app.payments.errors import (
    AppIdMismatch,
    BadNotification,
    BadSignature,
    ChannelNotConfigured,
    GatewayError,
    StaleNotification,
)
from app.payments.models import Payment, PaymentRefund
from app.payments.providers import keys
from app.payments.providers.base import (
    BASE64_SIGNATURE,
    GatewayTrade,
    Provider,
    RefundOutcome,
    TradeState,
    VerifiedNotification,
    send,
)

MAX_CLOCK_SKEW_SECONDS = 300
FAILED_STATES = {"CLOSED", "REVOKED", "PAYERROR"}
# What each Wechatpay-* header may look like; anything else is a malformed signature.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[0-9A-Za-z_\-]{1,64}")
_SERIAL = re.compile(r"[0-9A-Za-z_]{1,64}")


def _state(trade_state: str) -> TradeState:
    if trade_state == "SUCCESS":
        return TradeState.success
    if trade_state in FAILED_STATES:
        return TradeState.failed
    return TradeState.pending


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name.lower()) or headers.get(name) or ""


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadNotification("Unreadable time.") from exc
    return value if value.tzinfo else None


class WechatProvider(Provider):
    channel = "wechat"

    def is_configured(self) -> bool:
        s = get_settings()
        return bool(
            s.wechat_mch_id
            and s.wechat_app_id
            and s.wechat_apiv3_key
            and s.wechat_private_key
            and s.wechat_merchant_serial
            and s.wechat_platform_key
        )

    def _require(self) -> None:
        if not self.is_configured():
            raise ChannelNotConfigured("WeChat Pay is not configured (WECHAT_MCH_ID, keys, APIv3 key).")

    # ----------------------------------------------------------------------------------- signatures

    def verify_signed(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Check the Wechatpay-* headers of a notification or an answer; raise when they do not hold."""
        s = get_settings()
        timestamp = _header(headers, "Wechatpay-Timestamp")
        nonce = _header(headers, "Wechatpay-Nonce")
        signature = _header(headers, "Wechatpay-Signature")
        serial = _header(headers, "Wechatpay-Serial")
        if not (timestamp and nonce and signature and serial):
            raise BadSignature("The Wechatpay-* signature headers are missing.")
        if not (
            _TIMESTAMP.fullmatch(timestamp)
            and _NONCE.fullmatch(nonce)
            and _SERIAL.fullmatch(serial)
            and BASE64_SIGNATURE.fullmatch(signature)
        ):
            raise BadSignature("A Wechatpay-* signature header is malformed.")
        public_key, cert_serial = keys.load_public_key(s.wechat_platform_key or "")
        expected_serial = s.wechat_platform_serial or cert_serial
        if expected_serial is None or not keys.same_serial(serial, expected_serial):
            raise BadSignature("Wechatpay-Serial names a key we do not have.")
        message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        if not keys.rsa_verify(public_key, message, signature):
            raise BadSignature("The WeChat Pay signature does not verify.")
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError as exc:
            raise BadSignature("Wechatpay-Timestamp is not a number.") from exc
        if age > MAX_CLOCK_SKEW_SECONDS:
            raise StaleNotification("Wechatpay-Timestamp is more than five minutes away.")

    def _authorization(self, method: str, path: str, body: str) -> str:
        s = get_settings()
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        message = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = keys.rsa_sign(keys.load_private_key(s.wechat_private_key or ""), message)
        return (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{s.wechat_mch_id}",nonce_str="{nonce}",'
            f'signature="{signature}",timestamp="{timestamp}",serial_no="{s.wechat_merchant_serial}"'
        )

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> tuple[int, dict]:
        self._require()
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        response = await send(
            httpx.Request(
                method,
                get_settings().wechat_api_base_url.rstrip("/") + path,
                content=body.encode() if body else None,
                headers={
                    "Authorization": self._authorization(method, path, body),
                    "Accept": "application/json",
                    **({"Content-Type": "application/json"} if body else {}),
                },
            )
        )
        try:
            self.verify_signed(response.content, response.headers)
        except (BadSignature, StaleNotification) as exc:
            raise GatewayError(f"WeChat Pay's answer is not signed by WeChat Pay: {exc.detail}") from exc
        try:
            answer = response.json() if response.content else {}
        except ValueError as exc:
            raise GatewayError("WeChat Pay answered something that is not JSON.") from exc
        return response.status_code, answer

    # ----------------------------------------------------------------------------------- interface

    async def create(self, payment: Payment, order: Order) -> str:
        s = get_settings()
        status, answer = await self._call(
            "POST",
            "/v3/pay/transactions/native",
            {
                "appid": s.wechat_app_id,
                "mchid": s.wechat_mch_id,
                "description": f"稻香订单 {order.order_no}",
                "out_trade_no": payment.out_trade_no,
                "notify_url": f"{s.public_base_url.rstrip('/')}/api/payments/wechat/notify",
                "amount": {"total": payment.amount_fen, "currency": "CNY"},
                # Past the order's deadline the trade cannot be paid (the order is cancelled then).
                "time_expire": order.pay_deadline.astimezone(SHOP_TZ).isoformat(timespec="seconds"),
            },
        )
        if status != 200 or not answer.get("code_url"):
            raise GatewayError(f"WeChat Pay refused the payment: {answer.get('code', status)}.")
        return str(answer["code_url"])

    def verify_notification(self, body: bytes, headers: Mapping[str, str]) -> VerifiedNotification:
        self._require()
        s = get_settings()
        self.verify_signed(body, headers)
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise BadNotification("Unknown resource algorithm.")
            plain = AESGCM((s.wechat_apiv3_key or "").encode()).decrypt(
                resource["nonce"].encode(),
                base64.b64decode(resource["ciphertext"], validate=True),
                (resource.get("associated_data") or "").encode(),
            )
            transaction = json.loads(plain)
        except InvalidTag as exc:
            raise BadSignature("The resource does not decrypt with our APIv3 key.") from exc
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise BadNotification("The notification is not the documented JSON.") from exc
        return self._transaction(transaction, for_notification=True)

    def _transaction(self, tx: Any, *, for_notification: bool) -> VerifiedNotification:
        s = get_settings()
        error = BadNotification if for_notification else GatewayError
        if not isinstance(tx, dict):
            raise error("The transaction is not an object.")
        if tx.get("mchid") != s.wechat_mch_id or tx.get("appid") != s.wechat_app_id:
            if for_notification:
                raise AppIdMismatch("The notification is for another merchant or app.")
            raise GatewayError("WeChat Pay answered about another merchant.")
        amount = tx.get("amount") or {}
        total = amount.get("total") if isinstance(amount, dict) else None
        if not tx.get("out_trade_no") or not isinstance(total, int) or isinstance(total, bool):
            raise error("out_trade_no and amount.total are required.")
        return VerifiedNotification(
            state=_state(str(tx.get("trade_state", ""))),
            out_trade_no=str(tx["out_trade_no"]),
            amount_fen=total,
            paid_at=_time(tx.get("success_time")),
            gateway_trade_no=tx.get("transaction_id"),
        )

    async def query(self, payment: Payment) -> GatewayTrade:
        s = get_settings()
        status, answer = await self._call(
            "GET", f"/v3/pay/transactions/out-trade-no/{payment.out_trade_no}?mchid={s.wechat_mch_id}"
        )
        if status == 404 or answer.get("code") == "ORDER_NOT_EXIST":
            return GatewayTrade(state=TradeState.pending)
        if status != 200:
            raise GatewayError(f"WeChat Pay query failed: {answer.get('code', status)}.")
        try:
            tx = self._transaction(answer, for_notification=False)
        except BadNotification as exc:
            raise GatewayError("WeChat Pay's query answer is unreadable.") from exc
        return GatewayTrade(
            state=tx.state, amount_fen=tx.amount_fen, paid_at=tx.paid_at, gateway_trade_no=tx.gateway_trade_no
        )

    async def refund(self, payment: Payment, refund: PaymentRefund) -> RefundOutcome:
        if refund.attempts:
            # Asked before: look the refund up by its number rather than posting it again.
            status, answer = await self._call("GET", f"/v3/refund/domestic/refunds/{refund.out_refund_no}")
            if status == 200:
                return self._refund_outcome(answer)
            if status != 404:
                raise GatewayError(f"WeChat Pay refund query failed: {answer.get('code', status)}.")
        payload: dict[str, Any] = {
            "out_trade_no": payment.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "amount": {"refund": refund.amount_fen, "total": payment.amount_fen, "currency": "CNY"},
        }
        if refund.reason:
            payload["reason"] = refund.reason[:80]
        status, answer = await self._call("POST", "/v3/refund/domestic/refunds", payload)
        if status != 200:
            raise GatewayError(f"WeChat Pay refund failed: {answer.get('code', status)}.")
        return self._refund_outcome(answer)

    async def close(self, payment: Payment) -> bool:
        s = get_settings()
        status, answer = await self._call(
            "POST",
            f"/v3/pay/transactions/out-trade-no/{payment.out_trade_no}/close",
            {"mchid": s.wechat_mch_id},
        )
        if status in (200, 204) or answer.get("code") == "ORDER_NOT_EXIST":
            return True
        if answer.get("code") == "ORDERPAID":
            return False
        raise GatewayError(f"WeChat Pay close failed: {answer.get('code', status)}.")

    @staticmethod
    def _refund_outcome(answer: dict[str, Any]) -> RefundOutcome:
        state = answer.get("status")
        if state in ("ABNORMAL", "CLOSED"):
            raise GatewayError(f"WeChat Pay refund is {state}.")
        return RefundOutcome(done=state == "SUCCESS", gateway_refund_no=answer.get("refund_id"))
