"""Test keys and a stand-in for the gateways: an ASGI app served by a real uvicorn on a loopback port that
speaks Alipay's gateway.do (trade.query, trade.refund) and WeChat Pay v3 (native, query, refund), checks our
request signatures and signs its answers with the gateways' (test) keys."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.payments.providers import keys
from app.payments.providers.alipay import notification_content, sign_content


def yuan(fen: int) -> str:
    """An amount as Alipay writes it ('59.90'); written out here, not taken from the code under test."""
    return f"{fen // 100}.{fen % 100:02d}"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


ALIPAY_MERCHANT = new_key()  # ours: signs requests
ALIPAY_PLATFORM = new_key()  # Alipay's: signs notifications and answers
WECHAT_MERCHANT = new_key()
WECHAT_PLATFORM = new_key()
ATTACKER = new_key()

ALIPAY_APP_ID = "2021000000000001"
WECHAT_MCH_ID = "1900000001"
WECHAT_APP_ID = "wx0000000000000001"
WECHAT_APIV3_KEY = "0123456789abcdef0123456789abcdef"
WECHAT_MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
WECHAT_PLATFORM_SERIAL = "PUB_KEY_ID_0114232134912410000000000001"


# ------------------------------------------------------------------------------------ notifications


def alipay_form(params: dict[str, str], key: rsa.RSAPrivateKey = ALIPAY_PLATFORM) -> dict[str, str]:
    signed = {**params, "sign_type": "RSA2"}
    signed["sign"] = keys.rsa_sign(key, notification_content(signed).encode())
    return signed


def alipay_notification(
    out_trade_no: str,
    total_amount: str,
    *,
    trade_status: str = "TRADE_SUCCESS",
    app_id: str = ALIPAY_APP_ID,
    key: rsa.RSAPrivateKey = ALIPAY_PLATFORM,
) -> dict[str, str]:
    if key is ALIPAY_PLATFORM and trade_status == "TRADE_SUCCESS":
        # The real gateway sends this only for a trade it holds: so does the stand-in.
        whole, _, cents = total_amount.partition(".")
        STATE.alipay_trades[out_trade_no] = (trade_status, int(whole) * 100 + int(cents.ljust(2, "0")))
    return alipay_form(
        {
            "notify_time": "2026-11-25 21:00:05",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "app_id": app_id,
            "trade_no": "2026112522001400001" + secrets.token_hex(3),
            "out_trade_no": out_trade_no,
            "trade_status": trade_status,
            "total_amount": total_amount,
            "receipt_amount": total_amount,
            "buyer_logon_id": "158****1234",
            "subject": "稻香订单",
            "gmt_create": "2026-11-25 20:59:40",
            "gmt_payment": "2026-11-25 21:00:04",
        },
        key,
    )


def wechat_headers(
    body: bytes,
    *,
    key: rsa.RSAPrivateKey = WECHAT_PLATFORM,
    serial: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    serial = WECHAT_PLATFORM_SERIAL if serial is None else serial
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    message = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": keys.rsa_sign(key, message),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        "Content-Type": "application/json",
    }


def wechat_transaction(out_trade_no: str, total: int, **overrides: Any) -> dict[str, Any]:
    tx = {
        "appid": WECHAT_APP_ID,
        "mchid": WECHAT_MCH_ID,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200001234" + secrets.token_hex(5),
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-11-25T21:00:04+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
    }
    tx.update(overrides)
    return tx


def wechat_refund_resource(out_trade_no: str, out_refund_no: str, fen: int, status: str = "SUCCESS") -> dict:
    """The decrypted resource of a REFUND.* notice, as WeChat Pay documents it."""
    return {
        "mchid": WECHAT_MCH_ID,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200001234" + secrets.token_hex(5),
        "out_refund_no": out_refund_no,
        "refund_id": "50000000382019052709732678859",
        "refund_status": status,
        "success_time": "2026-11-25T21:10:04+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": fen, "refund": fen, "payer_total": fen, "payer_refund": fen},
    }


def wechat_notification(
    transaction: dict[str, Any], *, apiv3_key: str = WECHAT_APIV3_KEY, event_type: str = "TRANSACTION.SUCCESS"
) -> bytes:
    nonce = secrets.token_hex(6)
    associated = "refund" if event_type.startswith("REFUND.") else "transaction"
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(transaction).encode(), associated.encode()
    )
    return json.dumps(
        {
            "id": "EV-" + secrets.token_hex(8),
            "create_time": "2026-11-25T21:00:05+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "退款成功" if associated == "refund" else "支付成功",
            "resource": {
                "original_type": associated,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated,
                "nonce": nonce,
            },
        }
    ).encode()


# ------------------------------------------------------------------------------------ the stand-in gateway


@dataclass
class GatewayState:
    # out_trade_no → (trade state, amount in fen)
    alipay_trades: dict[str, tuple[str, int]] = field(default_factory=dict)
    wechat_trades: dict[str, tuple[str, int]] = field(default_factory=dict)
    # out_refund_no → how many times money actually moved (must stay 1)
    refunds_paid: dict[str, int] = field(default_factory=dict)
    refund_calls: list[str] = field(default_factory=list)
    refund_queries: list[str] = field(default_factory=list)
    # The body of every WeChat refund request.
    refund_requests: list[dict[str, Any]] = field(default_factory=list)
    wechat_refund_status: str = "SUCCESS"
    refuse_refunds: bool = False
    bad_request_signatures: int = 0
    # The Wechatpay-Serial the stand-in signs its answers under (None: WECHAT_PLATFORM_SERIAL), and the key
    # (None: WECHAT_PLATFORM).
    answer_serial: str | None = None
    answer_key: rsa.RSAPrivateKey | None = None
    # What GET /v3/certificates lists: PEM certificates, encrypted with this APIv3 key, and listed under
    # their own serial unless `listed_serial` says otherwise.
    platform_certificates: list[str] = field(default_factory=list)
    certificates_apiv3_key: str = WECHAT_APIV3_KEY
    listed_serial: str | None = None
    # Alipay's certificate mode: the app_cert_sn and alipay_root_cert_sn every request must carry (None:
    # public-key mode, neither may be sent).
    alipay_cert_sns: tuple[str, str] | None = None
    # The alipay_cert_sn beside the signature of every answer (certificate mode).
    alipay_answer_cert_sn: str | None = None
    # out_trade_no of every trade closed at either gateway; the last Native prepay body.
    closed: list[str] = field(default_factory=list)
    native_requests: list[dict[str, Any]] = field(default_factory=list)
    # The User-Agent of every request the gateways received ("" when there was none).
    user_agents: list[str] = field(default_factory=list)
    # Called (in the gateway's thread) while a refund request is being answered.
    while_refunding: Callable[[], None] | None = None

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


STATE = GatewayState()


def _alipay_answer(method: str, node: dict[str, Any]) -> Response:
    raw = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    sign = keys.rsa_sign(ALIPAY_PLATFORM, raw.encode())
    name = method.replace(".", "_") + "_response"
    cert_sn = f',"alipay_cert_sn":"{STATE.alipay_answer_cert_sn}"' if STATE.alipay_answer_cert_sn else ""
    return Response(
        f'{{"{name}":{raw}{cert_sn},"sign":"{sign}"}}', media_type="application/json;charset=utf-8"
    )


async def alipay_gateway(request: Request) -> Response:
    STATE.user_agents.append(request.headers.get("user-agent", ""))
    params = dict(parse_qsl((await request.body()).decode()))
    merchant = ALIPAY_MERCHANT.public_key()
    if params.get("app_id") != ALIPAY_APP_ID or not keys.rsa_verify(
        merchant, sign_content(params).encode(), params.get("sign", "")
    ):
        STATE.bad_request_signatures += 1
        return _alipay_answer(
            params.get("method", "x"), {"code": "40002", "sub_code": "isv.invalid-signature"}
        )
    if (params.get("app_cert_sn"), params.get("alipay_root_cert_sn")) != (
        STATE.alipay_cert_sns or (None, None)
    ):
        return _alipay_answer(params["method"], {"code": "40002", "sub_code": "isv.invalid-app-cert-sn"})
    method = params["method"]
    biz = json.loads(params["biz_content"])
    trade = STATE.alipay_trades.get(biz["out_trade_no"])
    if method == "alipay.trade.close":
        if trade is not None and trade[0] in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return _alipay_answer(method, {"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR"})
        STATE.closed.append(biz["out_trade_no"])
        return _alipay_answer(
            method, {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"]}
        )
    if trade is None:
        return _alipay_answer(
            method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        )
    status, fen = trade
    amount = yuan(fen)
    if method == "alipay.trade.query":
        return _alipay_answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": biz["out_trade_no"],
                "trade_no": "2026112522001499999",
                "trade_status": status,
                "total_amount": amount,
                "send_pay_date": "2026-11-25 21:00:04",
            },
        )
    if method == "alipay.trade.refund":
        if STATE.while_refunding is not None:
            STATE.while_refunding()
        if STATE.refuse_refunds:
            return _alipay_answer(method, {"code": "20000", "sub_code": "aop.ACQ.SYSTEM_ERROR"})
        no = biz["out_request_no"]
        STATE.refund_calls.append(no)
        first = no not in STATE.refunds_paid
        STATE.refunds_paid[no] = 1
        return _alipay_answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": "2026112522001499999",
                "out_trade_no": biz["out_trade_no"],
                "refund_fee": biz["refund_amount"],
                "fund_change": "Y" if first else "N",
            },
        )
    return _alipay_answer(method, {"code": "40004", "sub_code": "ACQ.UNKNOWN_METHOD"})


def _wechat_answer(payload: dict[str, Any], status: int = 200) -> Response:
    body = b"" if status == 204 else json.dumps(payload).encode()
    headers = wechat_headers(body, serial=STATE.answer_serial, key=STATE.answer_key or WECHAT_PLATFORM)
    return Response(body, status_code=status, headers=headers)


def _wechat_request_ok(request: Request, body: bytes) -> bool:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("WECHATPAY2-SHA256-RSA2048 "):
        return False
    fields = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))
    fields = {k: v.strip('"') for k, v in fields.items()}
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    message = (
        f"{request.method}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode() + body + b"\n"
    )
    return (
        fields.get("mchid") == WECHAT_MCH_ID
        and fields.get("serial_no") == WECHAT_MERCHANT_SERIAL
        and keys.rsa_verify(WECHAT_MERCHANT.public_key(), message, fields["signature"])
    )


async def wechat_api(request: Request) -> Response:
    body = await request.body()
    STATE.user_agents.append(request.headers.get("user-agent", ""))
    if not request.headers.get("user-agent") or not request.headers.get("accept"):
        # As WeChat Pay's rules say it answers.
        return _wechat_answer({"code": "INVALID_REQUEST", "message": "Http头缺少Accept或User-Agent"}, 400)
    if not _wechat_request_ok(request, body):
        STATE.bad_request_signatures += 1
        return _wechat_answer({"code": "SIGN_ERROR", "message": "签名错误"}, 401)
    path = request.url.path
    if path == "/v3/certificates":
        return _wechat_answer({"data": [_listed(pem) for pem in STATE.platform_certificates]})
    if path.startswith("/v3/pay/transactions/out-trade-no/") and path.endswith("/close"):
        no = path.split("/")[-2]
        trade = STATE.wechat_trades.get(no)
        if trade is not None and trade[0] == "SUCCESS":
            return _wechat_answer({"code": "ORDERPAID", "message": "订单已支付"}, 400)
        STATE.closed.append(no)
        return _wechat_answer({}, 204)
    if path == "/v3/pay/transactions/native":
        data = json.loads(body)
        STATE.native_requests.append(data)
        return _wechat_answer({"code_url": f"weixin://wxpay/bizpayurl?pr={data['out_trade_no']}"})
    if path.startswith("/v3/pay/transactions/out-trade-no/"):
        no = path.rsplit("/", 1)[1]
        trade = STATE.wechat_trades.get(no)
        if trade is None:
            return _wechat_answer({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, 404)
        return _wechat_answer(wechat_transaction(no, trade[1], trade_state=trade[0]))
    if path.startswith("/v3/refund/domestic/refunds/") and request.method == "GET":
        no = path.rsplit("/", 1)[1]
        STATE.refund_queries.append(no)
        if no not in STATE.refunds_paid:
            return _wechat_answer({"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}, 404)
        return _wechat_answer(
            {"refund_id": "50000000382019052709732678859", "status": STATE.wechat_refund_status}
        )
    if path == "/v3/refund/domestic/refunds":
        data = json.loads(body)
        STATE.refund_requests.append(data)
        no = data["out_refund_no"]
        STATE.refund_calls.append(no)
        STATE.refunds_paid[no] = 1
        return _wechat_answer(
            {
                "refund_id": "50000000382019052709732678859",
                "out_refund_no": no,
                "status": STATE.wechat_refund_status,
            }
        )
    return _wechat_answer({"code": "NOT_FOUND"}, 404)


def _listed(pem: str) -> dict[str, Any]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem.encode())
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(STATE.certificates_apiv3_key.encode()).encrypt(
        nonce.encode(), pem.encode(), b"certificate"
    )
    return {
        "serial_no": STATE.listed_serial or format(cert.serial_number, "X"),
        "effective_time": cert.not_valid_before_utc.isoformat(),
        "expire_time": cert.not_valid_after_utc.isoformat(),
        "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": "certificate",
            "ciphertext": base64.b64encode(ciphertext).decode(),
        },
    }


stand_in = Starlette(
    routes=[
        Route("/alipay/gateway.do", alipay_gateway, methods=["POST"]),
        Route("/v3/{rest:path}", wechat_api, methods=["GET", "POST"]),
    ]
)


class GatewayServer:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(stand_in, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the stand-in gateway did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def settings_for(server_url: str) -> dict[str, Any]:
    return {
        "alipay_app_id": ALIPAY_APP_ID,
        "alipay_private_key": private_pem(ALIPAY_MERCHANT),
        "alipay_public_key": public_pem(ALIPAY_PLATFORM),
        "alipay_gateway_url": f"{server_url}/alipay/gateway.do",
        "wechat_mch_id": WECHAT_MCH_ID,
        "wechat_app_id": WECHAT_APP_ID,
        "wechat_apiv3_key": WECHAT_APIV3_KEY,
        "wechat_private_key": private_pem(WECHAT_MERCHANT),
        "wechat_merchant_serial": WECHAT_MERCHANT_SERIAL,
        "wechat_platform_key": public_pem(WECHAT_PLATFORM),
        "wechat_platform_serial": WECHAT_PLATFORM_SERIAL,
        "wechat_api_base_url": server_url,
    }


def form_body(params: dict[str, str]) -> str:
    return urlencode(params)


def platform_certificate(
    serial: int,
    *,
    key: rsa.RSAPrivateKey | None = None,
    days: int = 365,
    start: int = -1,
    issuer: str = "Tenpay.com Root CA",
) -> str:
    """A self-signed (test) WeChat Pay platform certificate with the given serial, for `key` (the stand-in's
    platform key by default), valid from `start` to `days` days from now."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = key or WECHAT_PLATFORM
    now = datetime.now(UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, issuer),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now + timedelta(days=start))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
