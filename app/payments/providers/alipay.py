"""Alipay (支付宝) open platform, RSA2: computer-website page pay, asynchronous notification, trade query and
refund, as the open platform documents them.

Signing: every non-empty parameter except `sign` sorted by name, joined as `k=v&k=v` (raw values), signed
SHA256withRSA with the merchant's private key. Notifications: every parameter but `sign` and `sign_type`,
empty ones included, the same way, verified with Alipay's public key. Answers of the gateway: the JSON text of `<method>_response` verified the
same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import get_settings
from app.kit.money import fen_to_yuan
from app.kit.time import SHOP_TZ
from app.orders.models import Order
from app.payments.errors import (
    AppIdMismatch,
    BadNotification,
    BadSignature,
    ChannelNotConfigured,
    GatewayError,
    SellerMismatch,
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
    yuan_to_fen,
)

SUCCESS_STATES = {"TRADE_SUCCESS", "TRADE_FINISHED"}
# TRADE_CLOSED also follows a full refund; a closed trade we never saw succeed is a failed payment.
FAILED_STATES = {"TRADE_CLOSED"}


def sign_content(params: Mapping[str, str], *, drop: tuple[str, ...] = ("sign",)) -> str:
    """What a request's signature covers: every non-empty parameter but `sign`, sorted, `k=v&k=v`."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in drop and params[k] != "")


def notification_content(params: Mapping[str, str]) -> str:
    """What a notification's (or a synchronous return's) signature covers: every parameter but `sign` and
    `sign_type`, sorted, EMPTY ONES INCLUDED (`key=`), as Alipay and its SDK's `verify()` compute it."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type"))


def _state(trade_status: str) -> TradeState:
    if trade_status in SUCCESS_STATES:
        return TradeState.success
    if trade_status in FAILED_STATES:
        return TradeState.failed
    return TradeState.pending


def _beijing_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHOP_TZ)
    except ValueError as exc:
        raise BadNotification("Unreadable time in the notification.") from exc


class AlipayProvider(Provider):
    channel = "alipay"

    def is_configured(self) -> bool:
        s = get_settings()
        certificate_mode = bool(s.alipay_public_cert and s.alipay_app_cert and s.alipay_root_cert)
        return bool(s.alipay_app_id and s.alipay_private_key and (s.alipay_public_key or certificate_mode))

    def _require(self) -> None:
        if not self.is_configured():
            raise ChannelNotConfigured("Alipay is not configured (ALIPAY_APP_ID and keys).")

    @staticmethod
    def certificate_mode() -> bool:
        return bool(get_settings().alipay_public_cert)

    def _alipay_key(self) -> rsa.RSAPublicKey:
        """Alipay's key: from its public key certificate in certificate mode, else ALIPAY_PUBLIC_KEY."""
        s = get_settings()
        return keys.load_public_key(s.alipay_public_cert or s.alipay_public_key or "")[0]

    def _signed_params(self, method: str, biz: dict[str, Any], **extra: str) -> dict[str, str]:
        self._require()
        s = get_settings()
        params = {
            "app_id": s.alipay_app_id or "",
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.now(SHOP_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **extra,
        }
        if self.certificate_mode():
            # Which certificates the request is signed under; both are covered by the signature.
            params["app_cert_sn"] = keys.alipay_cert_sn(s.alipay_app_cert or "")
            params["alipay_root_cert_sn"] = keys.alipay_root_cert_sn(s.alipay_root_cert or "")
        private_key = keys.load_private_key(s.alipay_private_key or "")
        params["sign"] = keys.rsa_sign(private_key, sign_content(params).encode())
        return params

    async def create(self, payment: Payment, order: Order) -> str:
        base = get_settings().public_base_url.rstrip("/")
        params = self._signed_params(
            "alipay.trade.page.pay",
            {
                "out_trade_no": payment.out_trade_no,
                "total_amount": fen_to_yuan(payment.amount_fen),
                "subject": f"稻香订单 {order.order_no}",
                "product_code": "FAST_INSTANT_TRADE_PAY",
                # Past the order's deadline the trade cannot be paid (the order is cancelled then).
                "time_expire": order.pay_deadline.astimezone(SHOP_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            },
            notify_url=f"{base}/api/payments/alipay/notify",
            return_url=f"{base}/orders/{order.id}",
        )
        return f"{get_settings().alipay_gateway_url}?{urlencode(params)}"

    def notice_key(self, body: bytes) -> str | None:
        try:
            value = dict(parse_qsl(body.decode("utf-8", errors="replace"))).get("notify_id", "")
        except ValueError:
            return None
        return value[:64] or None

    def verify_notification(self, body: bytes, headers: Mapping[str, str]) -> VerifiedNotification:
        self._require()
        s = get_settings()
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadNotification("The notification is not a UTF-8 form.") from exc
        params = dict(pairs)
        if len(params) != len(pairs):
            names = [name for name, _ in pairs]
            if names.count("sign") > 1 or names.count("sign_type") > 1:
                raise BadSignature("The signature appears twice.")
            raise BadNotification("A parameter appears twice.")
        signature = params.get("sign", "")
        if params.get("sign_type", "RSA2") != "RSA2" or not signature:
            raise BadSignature("Only RSA2-signed notifications are accepted.")
        if not BASE64_SIGNATURE.fullmatch(signature):
            raise BadSignature("The sign parameter is not a base64 RSA2 signature.")
        content = notification_content(params)
        if not keys.rsa_verify(self._alipay_key(), content.encode("utf-8"), signature):
            raise BadSignature("The Alipay signature does not verify.")
        if not params.get("out_trade_no") or "total_amount" not in params:
            raise BadNotification("out_trade_no and total_amount are required.")
        refund = None
        if params.get("out_biz_no") and params.get("gmt_refund"):
            # A refund of the trade (the notice Alipay sends after alipay.trade.refund): out_biz_no is our
            # out_request_no. It reports money given back, none taken.
            refund = RefundNotice(
                out_refund_no=params["out_biz_no"],
                status="SUCCESS",
                amount_fen=yuan_to_fen(params["refund_fee"]) if params.get("refund_fee") else None,
            )
        foreign = None
        if params.get("app_id") != s.alipay_app_id:
            foreign = AppIdMismatch("The notification is for another Alipay app.")
        elif s.alipay_seller_id and params.get("seller_id") != s.alipay_seller_id:
            foreign = SellerMismatch("The money went to another Alipay account (seller_id).")
        return VerifiedNotification(
            foreign=foreign,
            refund=refund,
            state=TradeState.pending if refund else _state(params.get("trade_status", "")),
            out_trade_no=params["out_trade_no"],
            amount_fen=yuan_to_fen(params["total_amount"]),
            paid_at=_beijing_time(params.get("gmt_payment")),
            gateway_trade_no=params.get("trade_no") or None,
        )

    async def _call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        params = self._signed_params(method, biz)
        response = await send(
            httpx.Request(
                "POST",
                get_settings().alipay_gateway_url,
                content=urlencode(params).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            )
        )
        text = response.text
        node = method.replace(".", "_") + "_response"
        try:
            raw_node, document = _raw_member(text, node)
        except ValueError as exc:
            raise GatewayError(f"Alipay answered {response.status_code} without {node}.") from exc
        if self.certificate_mode() and document.get("alipay_cert_sn"):
            ours = keys.alipay_cert_sn(get_settings().alipay_public_cert or "")
            if document["alipay_cert_sn"] != ours:
                # Alipay renewed its certificate: download it (alipay.open.app.alipaycert.download or the
                # open platform's console) into ALIPAY_PUBLIC_CERT.
                raise GatewayError(
                    f"Alipay signed with certificate {document['alipay_cert_sn']}, not ours ({ours})."
                )
        if not keys.rsa_verify(self._alipay_key(), raw_node.encode("utf-8"), str(document.get("sign", ""))):
            raise GatewayError("Alipay's answer is not signed by Alipay.")
        answer = json.loads(raw_node)
        if not isinstance(answer, dict):
            raise GatewayError("Alipay's answer is not an object.")
        return answer

    async def query(self, payment: Payment) -> GatewayTrade:
        answer = await self._call("alipay.trade.query", {"out_trade_no": payment.out_trade_no})
        if answer.get("code") != "10000":
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return GatewayTrade(state=TradeState.pending)
            raise GatewayError(f"Alipay query failed: {answer.get('sub_code') or answer.get('code')}.")
        try:
            return GatewayTrade(
                state=_state(str(answer.get("trade_status", ""))),
                amount_fen=yuan_to_fen(str(answer.get("total_amount", ""))),
                paid_at=_beijing_time(answer.get("send_pay_date")),
                gateway_trade_no=answer.get("trade_no"),
            )
        except BadNotification as exc:
            raise GatewayError("Alipay's query answer is unreadable.") from exc

    async def refund(self, payment: Payment, refund: PaymentRefund) -> RefundOutcome:
        answer = await self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": payment.out_trade_no,
                "refund_amount": fen_to_yuan(refund.amount_fen),
                "out_request_no": refund.out_refund_no,
                "refund_reason": refund.reason[:100],
            },
        )
        if answer.get("code") != "10000":
            raise GatewayError(f"Alipay refund failed: {answer.get('sub_code') or answer.get('code')}.")
        # fund_change "N" on a repeat of the same out_request_no: already refunded, nothing more moved.
        # Alipay gives a refund no number of its own (`trade_no` is the trade's): ours, out_request_no, is it.
        return RefundOutcome(done=True, gateway_refund_no=None)

    async def close(self, payment: Payment) -> bool:
        answer = await self._call("alipay.trade.close", {"out_trade_no": payment.out_trade_no})
        if answer.get("code") == "10000" or answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return True  # closed, or never opened (the buyer did not scan): nothing can be paid
        if answer.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
            return False  # paid (or finished) already
        raise GatewayError(f"Alipay close failed: {answer.get('sub_code') or answer.get('code')}.")


def _raw_member(text: str, name: str) -> tuple[str, dict[str, Any]]:
    """The exact JSON text of a top-level member (Alipay signs those bytes, not a re-serialisation)."""
    document = json.loads(text)
    if not isinstance(document, dict) or name not in document:
        raise ValueError(name)
    key = f'"{name}"'
    start = text.index(key) + len(key)
    start = text.index(":", start) + 1
    while text[start] in " \t\r\n":
        start += 1
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end], document
