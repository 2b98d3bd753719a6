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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
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
    RefundNotice,
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


@dataclass(frozen=True)
class FetchedCertificate:
    serial: str
    pem: str
    not_before: datetime
    not_after: datetime


class _StoredCertificates:
    """Platform certificates fetched by `daoxiang payments fetch-certificates` (in the database, so every
    server sees them), cached in the process: read at most once a minute, or sooner (at most every few
    seconds) when a notice or answer names a serial the process does not know yet."""

    TTL_SECONDS = 60.0
    MIN_GAP_SECONDS = 5.0

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPublicKey] = {}
        self.loaded_at = float("-inf")

    async def refresh(self, *, unknown_serial: bool = False) -> None:
        age = time.monotonic() - self.loaded_at
        if age < (self.MIN_GAP_SECONDS if unknown_serial else self.TTL_SECONDS):
            return
        from app.db import session_scope, utcnow
        from app.payments import repository

        async with session_scope() as session:
            rows = await repository.platform_certificates(session, "wechat", utcnow())
        self.keys = {row.serial: keys.load_public_key(row.certificate)[0] for row in rows}
        self.loaded_at = time.monotonic()

    def clear(self) -> None:
        self.keys = {}
        self.loaded_at = float("-inf")


STORED = _StoredCertificates()


class WechatProvider(Provider):
    channel = "wechat"

    def _merchant_configured(self) -> bool:
        s = get_settings()
        return bool(
            s.wechat_mch_id
            and s.wechat_app_id
            and s.wechat_apiv3_key
            and s.wechat_private_key
            and s.wechat_merchant_serial
        )

    def is_configured(self) -> bool:
        return self._merchant_configured() and bool(get_settings().wechat_platform_key)

    def platform_keys(self) -> dict[str, rsa.RSAPublicKey]:
        """Every platform key we accept, by serial: the configured ones (certificates, or the public key of
        public-key mode under its id) and the certificates fetched from /v3/certificates."""
        s = get_settings()
        configured = (
            keys.load_public_keys(s.wechat_platform_key, s.wechat_platform_serial)
            if s.wechat_platform_key
            else {}
        )
        return {**STORED.keys, **configured}

    async def prepare(self, headers: Mapping[str, str]) -> None:
        serial = _header(headers, "Wechatpay-Serial")
        known = bool(serial) and keys.find_by_serial(self.platform_keys(), serial) is not None
        await STORED.refresh(unknown_serial=not known)

    def _require(self) -> None:
        if not self.is_configured():
            raise ChannelNotConfigured("WeChat Pay is not configured (WECHAT_MCH_ID, keys, APIv3 key).")

    # ----------------------------------------------------------------------------------- signatures

    def verify_signed(
        self,
        body: bytes,
        headers: Mapping[str, str],
        platform_keys: dict[str, rsa.RSAPublicKey] | None = None,
    ) -> None:
        """Check the Wechatpay-* headers of a notification or an answer; raise when they do not hold."""
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
        public_key = keys.find_by_serial(
            self.platform_keys() if platform_keys is None else platform_keys, serial
        )
        if public_key is None:
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
        response = await self._send(method, path, payload)
        await self.prepare(response.headers)
        try:
            self.verify_signed(response.content, response.headers)
        except (BadSignature, StaleNotification) as exc:
            raise GatewayError(f"WeChat Pay's answer is not signed by WeChat Pay: {exc.detail}") from exc
        try:
            answer = response.json() if response.content else {}
        except ValueError as exc:
            raise GatewayError("WeChat Pay answered something that is not JSON.") from exc
        return response.status_code, answer

    async def _send(self, method: str, path: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        """A signed request; the answer is not verified yet."""
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return await send(
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

    async def fetch_certificates(self) -> list[FetchedCertificate]:
        """Download the platform certificates (GET /v3/certificates) and verify them: each decrypts with our
        APIv3 key (which only WeChat Pay and we hold), is valid now and carries the serial it is listed
        under, and the answer is signed by one of them (or by a key we already trust). Works before any
        platform key is configured (the first download of certificate mode)."""
        if not self._merchant_configured():
            raise ChannelNotConfigured("WeChat Pay is not configured (WECHAT_MCH_ID, keys, APIv3 key).")
        response = await self._send("GET", "/v3/certificates")
        if response.status_code != 200:
            raise GatewayError(f"WeChat Pay refused the certificate download: {response.status_code}.")
        try:
            items = response.json()["data"]
            fetched = [self._decrypt_certificate(item) for item in items]
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise GatewayError("WeChat Pay's certificate list is not the documented JSON.") from exc
        now = datetime.now(UTC)
        current = [c for c in fetched if c.not_before <= now <= c.not_after]
        trusted = {c.serial: keys.load_public_key(c.pem)[0] for c in current}
        try:
            known = self.platform_keys()
        except ChannelNotConfigured:
            known = {}
        try:
            self.verify_signed(response.content, response.headers, {**known, **trusted})
        except (BadSignature, StaleNotification) as exc:
            raise GatewayError(f"The certificate list is not signed by WeChat Pay: {exc.detail}") from exc
        return current

    def _decrypt_certificate(self, item: dict[str, Any]) -> FetchedCertificate:
        encrypted = item["encrypt_certificate"]
        if encrypted.get("algorithm") != "AEAD_AES_256_GCM":
            raise GatewayError("Unknown certificate encryption.")
        try:
            pem = AESGCM((get_settings().wechat_apiv3_key or "").encode()).decrypt(
                encrypted["nonce"].encode(),
                base64.b64decode(encrypted["ciphertext"], validate=True),
                (encrypted.get("associated_data") or "").encode(),
            )
        except InvalidTag as exc:
            raise GatewayError("A platform certificate does not decrypt with our APIv3 key.") from exc
        cert = x509.load_pem_x509_certificate(pem)
        serial = format(cert.serial_number, "X")
        if not keys.same_serial(str(item["serial_no"]), serial):
            raise GatewayError("A platform certificate is listed under another serial.")
        return FetchedCertificate(
            serial=serial,
            pem=pem.decode(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )

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

    def notice_key(self, body: bytes) -> str | None:
        try:
            value = json.loads(body).get("id")
        except (ValueError, AttributeError):
            return None
        return value[:64] if isinstance(value, str) and value else None

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
            is_refund = str(envelope.get("event_type", "")).startswith("REFUND.")
        except InvalidTag as exc:
            raise BadSignature("The resource does not decrypt with our APIv3 key.") from exc
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise BadNotification("The notification is not the documented JSON.") from exc
        if is_refund:
            return self._refund_notice(transaction)
        return self._transaction(transaction, for_notification=True)

    def _refund_notice(self, resource: Any) -> VerifiedNotification:
        """REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED, sent to the refund's notify_url."""
        if not isinstance(resource, dict) or not resource.get("out_refund_no"):
            raise BadNotification("A refund notice names its out_refund_no.")
        amount = resource.get("amount") if isinstance(resource.get("amount"), dict) else {}
        refunded = amount.get("refund")
        foreign = None
        if resource.get("mchid") != get_settings().wechat_mch_id:
            foreign = AppIdMismatch("The refund notice is for another merchant.")
        return VerifiedNotification(
            state=TradeState.pending,
            out_trade_no=str(resource.get("out_trade_no") or "") or None,
            foreign=foreign,
            refund=RefundNotice(
                out_refund_no=str(resource["out_refund_no"]),
                status=str(resource.get("refund_status", "")),
                gateway_refund_no=resource.get("refund_id"),
                amount_fen=refunded if isinstance(refunded, int) and not isinstance(refunded, bool) else None,
            ),
        )

    def _transaction(self, tx: Any, *, for_notification: bool) -> VerifiedNotification:
        s = get_settings()
        error = BadNotification if for_notification else GatewayError
        if not isinstance(tx, dict):
            raise error("The transaction is not an object.")
        foreign = None
        if tx.get("mchid") != s.wechat_mch_id or tx.get("appid") != s.wechat_app_id:
            if not for_notification:
                raise GatewayError("WeChat Pay answered about another merchant.")
            foreign = AppIdMismatch("The notification is for another merchant or app.")
        amount = tx.get("amount") or {}
        total = amount.get("total") if isinstance(amount, dict) else None
        if not tx.get("out_trade_no") or not isinstance(total, int) or isinstance(total, bool):
            raise error("out_trade_no and amount.total are required.")
        return VerifiedNotification(
            foreign=foreign,
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
        base = get_settings().public_base_url.rstrip("/")
        payload: dict[str, Any] = {
            "out_trade_no": payment.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            # The refund's outcome comes back as a REFUND.* notice on the same route as payment notices.
            "notify_url": f"{base}/api/payments/wechat/notify",
            # Always the whole trade: what the gateway holds, which is not the payment's amount when an
            # unexpected sum is given back.
            "amount": {"refund": refund.amount_fen, "total": refund.amount_fen, "currency": "CNY"},
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
