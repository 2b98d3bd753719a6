"""A correctly signed success notice for a payment, per channel, as the gateway would send it."""

from __future__ import annotations

from app.payments.providers import sandbox
from tests.payments import gateway as gw
from tests.payments.factories import payment_row, sandbox_body


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def notice_for(channel: str, payment: dict, order: dict, amount_fen: int | None = None):
    """(body, headers) of a success notice for `payment` (for `amount_fen`, default the payment's)."""
    fen = payment["amount_fen"] if amount_fen is None else amount_fen
    if channel == "sandbox":
        body = sandbox_body(payment, order, amount_fen=fen)
        return body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
    out_trade_no = (await payment_row(payment["id"])).out_trade_no
    if channel == "alipay":
        body = gw.form_body(gw.alipay_notification(out_trade_no, yuan(fen))).encode()
        return body, {"content-type": "application/x-www-form-urlencoded"}
    body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, fen))
    return body, {k.lower(): v for k, v in gw.wechat_headers(body).items()}
