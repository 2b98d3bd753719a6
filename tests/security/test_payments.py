"""Payments under attack (issue 13 items 2, 5, 7, 8): the sandbox pay page is the buyer's alone; gateway
notice endpoints refuse floods (size, unconfigured channels, per-address throttles) and keep only a bounded,
purged log; malformed signature headers are 400 `bad_signature`, never 500; absurd gateway times are not
believed, and no stored time can break a page or the export."""

# ruff: noqa: F811 - the stand-in gateway's fixtures are imported from tests/payments and used as arguments

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from app.config import get_settings
from app.db import session_scope, utcnow
from app.main import app
from app.orders.models import Order
from app.payments import notices
from app.payments.models import PaymentNotification
from app.payments.providers import sandbox
from app.users.models import Role
from app.worker import run_job
from tests.orders.factories import customer, staff
from tests.payments import gateway as gw
from tests.payments.conftest import gateway_server, gateways  # noqa: F401 - fixtures
from tests.payments.factories import (
    notifications,
    order_row,
    order_to_pay,
    payment_row,
    sandbox_body,
    start_payment,
    state_of,
)
from tests.storefront.pages import csrf_from, csrf_token, log_in
from tests.users.factories import auth

ATTACKER_IP = "198.51.100.23"
NOTIFY_URLS = {
    "sandbox": "/api/payments/sandbox/notify",
    "alipay": "/api/payments/alipay/notify",
    "wechat": "/api/payments/wechat/notify",
}


@pytest.fixture
async def attacker() -> AsyncIterator[httpx.AsyncClient]:
    """A client at an address of its own (not the `client` fixture's)."""
    async with _client_at(ATTACKER_IP) as c:
        yield c


def _client_at(ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _stored_for(ip: str) -> list[PaymentNotification]:
    return [n for n in await notifications() if n.client_ip == ip]


# ---------------------------------------------------------------------------------------------- 13.2


class TestSandboxPageIsTheBuyersAlone:
    """Only the signed-in owner of the order sees /pay/sandbox/{id} or presses its buttons; anyone else gets
    the 404 of a payment that does not exist, and nothing changes."""

    VIEWERS = ["anonymous", "other_customer", "merchant", "admin"]

    async def _sign_in_as(self, client: httpx.AsyncClient, viewer: str) -> None:
        if viewer == "other_customer":
            stranger, _ = await customer()
            await log_in(client, stranger)
        elif viewer in ("merchant", "admin"):
            await log_in(client, await staff(Role(viewer)))

    async def _not_found_page(self, client: httpx.AsyncClient) -> str:
        missing = await client.get("/pay/sandbox/987654321")
        assert missing.status_code == 404
        return missing.text

    @pytest.mark.parametrize("viewer", VIEWERS)
    async def test_the_page_is_404_and_shows_nothing_of_the_order(self, client, viewer):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await self._sign_in_as(client, viewer)
        response = await client.get(f"/pay/sandbox/{payment['id']}")
        assert response.status_code == 404
        assert order["order_no"] not in response.text
        assert "支付成功" not in response.text and "¥" not in response.text
        assert response.text == await self._not_found_page(client)

    @pytest.mark.parametrize("result", ["success", "failed"])
    @pytest.mark.parametrize("viewer", VIEWERS)
    async def test_pressing_a_button_is_404_and_changes_nothing(self, client, viewer, result):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await self._sign_in_as(client, viewer)
        token = await csrf_token(client, "/login" if viewer == "anonymous" else "/")
        response = await client.post(
            f"/pay/sandbox/{payment['id']}", data={"result": result, "csrf_token": token}
        )
        assert response.status_code == 404
        assert order["order_no"] not in response.text
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert await notifications() == []

    @pytest.mark.parametrize("forged", ["missing", "zero", "alipay_payment", "neighbour"])
    @pytest.mark.parametrize("method", ["GET", "POST"])
    async def test_forged_ids_are_404_even_for_a_signed_in_buyer(self, client, gateways, forged, method):
        user, _, order = await order_to_pay(client)
        mine = await start_payment(client, user, order["id"])
        other_user, _, other_order = await order_to_pay(client)
        target = {
            "missing": mine["id"] + 1000,
            "zero": 0,
            # The buyer's own payment, but not a sandbox one.
            "alipay_payment": (await start_payment(client, user, order["id"], "alipay"))["id"],
            # The id next to mine: another customer's.
            "neighbour": (await start_payment(client, other_user, other_order["id"]))["id"],
        }[forged]
        await log_in(client, user)
        if method == "GET":
            response = await client.get(f"/pay/sandbox/{target}")
        else:
            token = await csrf_token(client, "/")
            response = await client.post(
                f"/pay/sandbox/{target}", data={"result": "success", "csrf_token": token}
            )
        assert response.status_code == 404 or (forged == "zero" and response.status_code in (400, 422)), (
            response.status_code
        )
        assert other_order["order_no"] not in response.text
        assert (await order_row(other_order["id"])).status == "pending_payment"

    async def test_the_buyer_still_sees_and_presses_it(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await log_in(client, user)
        page = await client.get(f"/pay/sandbox/{payment['id']}")
        assert page.status_code == 200 and order["order_no"] in page.text
        response = await client.post(
            f"/pay/sandbox/{payment['id']}", data={"result": "success", "csrf_token": csrf_from(page.text)}
        )
        assert response.status_code == 303
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    async def test_after_logging_out_the_buyer_gets_404_too(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await log_in(client, user)
        client.cookies.delete("dx_session")
        assert (await client.get(f"/pay/sandbox/{payment['id']}")).status_code == 404


# ---------------------------------------------------------------------------------------------- 13.5


def _padded_sandbox_body(size: int) -> bytes:
    """A syntactically valid JSON notice of exactly `size` bytes."""
    head = b'{"payment_id":1,"order_no":"x","amount_fen":1,"status":"success","pad":"'
    tail = b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


class TestNoticeBodyCap:
    @pytest.mark.parametrize("size", [64 * 1024 + 1, 100_000, 1_000_000])
    @pytest.mark.parametrize("channel", ["sandbox", "alipay", "wechat"])
    @pytest.mark.parametrize("announced", [True, False], ids=["content_length", "streamed"])
    async def test_a_body_over_64_kib_is_413_and_nothing_is_stored(
        self, attacker, gateways, channel, size, announced
    ):
        body = b"a" * size
        if announced:
            response = await attacker.post(NOTIFY_URLS[channel], content=body)
        else:

            async def chunks():
                for start in range(0, size, 8192):
                    yield body[start : start + 8192]

            response = await attacker.post(NOTIFY_URLS[channel], content=chunks())
        assert response.status_code == 413
        if channel == "sandbox":
            assert response.json()["code"] == "payload_too_large"
        assert await notifications() == []

    async def test_a_body_of_exactly_64_kib_is_read_and_judged(self, attacker):
        body = _padded_sandbox_body(64 * 1024)
        response = await attacker.post(
            NOTIFY_URLS["sandbox"], content=body, headers={"X-Sandbox-Signature": sandbox.sign(body)}
        )
        assert response.status_code == 404  # read, verified, and no such payment
        [stored] = await notifications()
        assert len(stored.body) == 64 * 1024

    @pytest.mark.parametrize("filler", [b"\xff", "稻".encode(), "🌾".encode(), b"\x00"])
    async def test_64_kib_of_any_bytes_is_stored_whole(self, attacker, filler):
        body = (filler * (64 * 1024))[: 64 * 1024 - 64 * 1024 % len(filler)]
        response = await attacker.post(
            NOTIFY_URLS["sandbox"], content=body, headers={"X-Sandbox-Signature": sandbox.sign(body)}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "bad_notification"
        [stored] = await notifications()
        assert stored.error_code == "bad_notification" and len(stored.body) >= 64 * 1024 // 4 - 1


class TestUnconfiguredChannels:
    @pytest.mark.parametrize(
        "channel,body",
        [
            ("alipay", b"out_trade_no=1&total_amount=1.00&sign=x"),
            ("alipay", b"a" * 60_000),
            ("wechat", b'{"resource": {}}'),
            ("wechat", b"\xff" * 1000),
            ("sandbox", b"{}"),
        ],
    )
    async def test_are_refused_at_once_and_nothing_is_stored(self, attacker, monkeypatch, channel, body):
        monkeypatch.setattr(get_settings(), "payment_sandbox_enabled", False)
        for _ in range(3):
            response = await attacker.post(NOTIFY_URLS[channel], content=body)
            assert response.status_code in (400, 422)
        assert await notifications() == []


class TestThrottlePerAddress:
    @pytest.fixture(autouse=True)
    def _small_limits(self, monkeypatch):
        monkeypatch.setattr(get_settings(), "payment_notify_max_rejected_per_ip", 3)
        monkeypatch.setattr(get_settings(), "payment_notify_max_per_ip", 8)

    @pytest.mark.parametrize("channel", ["sandbox", "alipay", "wechat"])
    async def test_after_a_few_refused_notices_an_address_is_not_heard(self, attacker, gateways, channel):
        statuses = [
            (await attacker.post(NOTIFY_URLS[channel], content=b"forged")).status_code for _ in range(6)
        ]
        assert statuses[:3] != [429] * 3 and 429 not in statuses[:3]
        assert statuses[3:] == [429, 429, 429]
        assert len(await _stored_for(ATTACKER_IP)) == 3
        refused = await attacker.post(NOTIFY_URLS[channel], content=b"forged")
        assert int(refused.headers["retry-after"]) >= 1

    @pytest.mark.parametrize(
        "spoof",
        [
            {"X-Forwarded-For": "10.0.0.{n}"},
            {"X-Forwarded-For": "{n}.1.2.3, 127.0.0.1"},
            {"X-Real-IP": "10.9.9.{n}"},
            {"Forwarded": "for=10.0.0.{n}"},
        ],
    )
    async def test_made_up_forwarding_headers_do_not_escape_it(self, attacker, spoof):
        statuses = []
        for n in range(6):
            headers = {k: v.format(n=n) for k, v in spoof.items()}
            statuses.append(
                (await attacker.post(NOTIFY_URLS["sandbox"], content=b"x", headers=headers)).status_code
            )
        assert statuses[3:] == [429, 429, 429]

    async def test_other_addresses_are_still_heard(self, attacker):
        for _ in range(4):
            await attacker.post(NOTIFY_URLS["sandbox"], content=b"forged")
        async with _client_at("192.0.2.50") as gateway_host:
            response = await gateway_host.post(NOTIFY_URLS["sandbox"], content=b"forged")
        assert response.status_code == 400

    async def test_even_good_notices_have_a_ceiling(self, attacker):
        async with _client_at("192.0.2.60") as shop_client:
            user, _, order = await order_to_pay(shop_client)
            payment = await start_payment(shop_client, user, order["id"])
        body = sandbox_body(payment, order)
        statuses = [
            (
                await attacker.post(
                    NOTIFY_URLS["sandbox"], content=body, headers={"X-Sandbox-Signature": sandbox.sign(body)}
                )
            ).status_code
            for _ in range(10)
        ]
        assert statuses == [200] * 8 + [429, 429]
        assert len(await _stored_for(ATTACKER_IP)) == 8


class TestStoredNoticesAreBounded:
    async def test_refused_notices_kept_per_address_are_bounded_newest_first(self, attacker, monkeypatch):
        monkeypatch.setattr(get_settings(), "payment_notify_max_rejected_per_ip", 1000)
        monkeypatch.setattr(get_settings(), "payment_notify_rejected_kept_per_ip", 4)
        async with _client_at("192.0.2.70") as neighbour:
            await neighbour.post(NOTIFY_URLS["sandbox"], content=b"neighbour")
        for n in range(10):
            await attacker.post(NOTIFY_URLS["sandbox"], content=f"forged-{n}".encode())
        assert [n.body for n in await _stored_for(ATTACKER_IP)] == [f"forged-{n}" for n in range(6, 10)]
        assert [n.body for n in await _stored_for("192.0.2.70")] == ["neighbour"]

    @pytest.mark.parametrize("outcome", ["applied", "rejected", "duplicate", "received"])
    async def test_notices_are_purged_after_the_retention(self, outcome):
        now = utcnow()
        days = get_settings().payment_notification_retention_days
        async with session_scope() as session:
            for age_days in (days + 1, days - 1, 0):
                session.add(
                    PaymentNotification(
                        channel="alipay",
                        headers="{}",
                        body=f"age {age_days}",
                        outcome=outcome,
                        client_ip=ATTACKER_IP,
                        received_at=now - timedelta(days=age_days),
                    )
                )
        async with session_scope() as session:
            assert await notices.purge_notifications(session, now=now) == 1
        assert {n.body for n in await notifications()} == {f"age {days - 1}", "age 0"}
        later = now + timedelta(days=days + 1)
        async with session_scope() as session:
            assert await notices.purge_notifications(session, now=later) == 2
        assert await notifications() == []

    async def test_the_worker_runs_the_purge(self):
        assert await run_job("payments.purge_notifications") == 0


# ---------------------------------------------------------------------------------------------- 13.7


SANDBOX_BAD_SIGNATURES = {
    "empty": b"",
    "space": b"   ",
    "non_ascii_latin1": "é".encode("latin-1") * 64,
    "non_ascii_utf8": "签名".encode() * 16,
    "superscript_digits": "²".encode("latin-1") * 64,
    "too_short": b"a" * 63,
    "too_long": b"a" * 65,
    "double_length": b"ab" * 64,
    "non_hex": b"g" * 64,
    "base64_instead": b"A" * 43 + b"=",
    "nul_byte": b"0" * 63 + b"\x00",
    "with_prefix": b"sha256=" + b"0" * 64,
}


class TestMalformedSandboxSignature:
    @pytest.mark.parametrize("value", SANDBOX_BAD_SIGNATURES.values(), ids=SANDBOX_BAD_SIGNATURES.keys())
    async def test_is_400_bad_signature_and_changes_nothing(self, client, value):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order)
        response = await client.post(
            NOTIFY_URLS["sandbox"],
            content=body,
            headers=[(b"Content-Type", b"application/json"), (b"X-Sandbox-Signature", value)],
        )
        assert response.status_code == 400
        assert response.json()["code"] == "bad_signature"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    @pytest.mark.parametrize("second", ["same", "other", "empty"])
    async def test_a_repeated_header_is_400_even_when_one_copy_is_right(self, client, second):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order)
        good = sandbox.sign(body).encode()
        other = {"same": good, "other": b"0" * 64, "empty": b""}[second]
        for pair in ([good, other], [other, good]):
            response = await client.post(
                NOTIFY_URLS["sandbox"],
                content=body,
                headers=[(b"X-Sandbox-Signature", pair[0]), (b"X-Sandbox-Signature", pair[1])],
            )
            assert response.status_code == 400
            assert response.json()["code"] == "bad_signature"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    async def test_an_upper_case_signature_is_still_good(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order)
        response = await client.post(
            NOTIFY_URLS["sandbox"], content=body, headers={"X-Sandbox-Signature": sandbox.sign(body).upper()}
        )
        assert response.status_code == 200


WECHAT_HEADER_VARIANTS = [
    ("Wechatpay-Timestamp", "é".encode("latin-1") * 10),
    ("Wechatpay-Timestamp", "１７００００００００".encode()),
    ("Wechatpay-Timestamp", "²".encode("latin-1") * 10),
    ("Wechatpay-Timestamp", b"9" * 5000),
    ("Wechatpay-Timestamp", b"-1"),
    ("Wechatpay-Timestamp", b"1e9"),
    ("Wechatpay-Nonce", "随机".encode()),
    ("Wechatpay-Nonce", b"a" * 65),
    ("Wechatpay-Nonce", b"a\x00b"),
    ("Wechatpay-Signature", "签名".encode() * 200),
    ("Wechatpay-Signature", b"A" * 10),
    ("Wechatpay-Signature", b"!" * 344),
    ("Wechatpay-Signature", b"A" * 5000),
    ("Wechatpay-Serial", "序列号".encode()),
    ("Wechatpay-Serial", b"A" * 65),
    ("Wechatpay-Serial", b"PUB KEY"),
]


class TestMalformedWechatHeaders:
    @pytest.mark.parametrize(
        "name,value",
        WECHAT_HEADER_VARIANTS,
        ids=[f"{n}-{i}" for i, (n, _) in enumerate(WECHAT_HEADER_VARIANTS)],
    )
    async def test_each_malformed_header_is_refused_and_changes_nothing(self, client, gateways, name, value):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        headers = {k: v.encode() for k, v in gw.wechat_headers(body).items()}
        headers[name] = value
        response = await client.post(NOTIFY_URLS["wechat"], content=body, headers=list(headers.items()))
        assert response.status_code == 400
        assert response.json()["code"] == "FAIL"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [n.error_code for n in await notifications()] == ["bad_signature"]

    @pytest.mark.parametrize(
        "name", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
    )
    async def test_a_repeated_header_is_refused(self, client, gateways, name):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        headers = [(k.encode(), v.encode()) for k, v in gw.wechat_headers(body).items()]
        headers += [(k, v) for k, v in headers if k.decode() == name]
        response = await client.post(NOTIFY_URLS["wechat"], content=body, headers=headers)
        assert response.status_code == 400
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [n.error_code for n in await notifications()] == ["bad_signature"]


ALIPAY_SIGN_VARIANTS = {
    "empty": [("sign", "")],
    "non_ascii": [("sign", "签名" * 200)],
    "latin1": [("sign", "é" * 344)],
    "too_short": [("sign", "QUJD")],
    "not_base64": [("sign", "!" * 344)],
    "spaces": [("sign", " " * 344)],
    "too_long": [("sign", "A" * 8000)],
    "repeated": "repeat",
    "repeated_sign_type": [("sign_type", "RSA2")],
    "rsa1": [("sign_type", "RSA")],
}


class TestMalformedAlipaySign:
    @pytest.mark.parametrize("variant", ALIPAY_SIGN_VARIANTS.keys())
    async def test_is_refused_as_bad_signature(self, client, gateways, variant):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        pairs = list(params.items())
        change = ALIPAY_SIGN_VARIANTS[variant]
        if change == "repeat":
            pairs.append(("sign", params["sign"]))
        elif variant == "repeated_sign_type":
            pairs += change
        else:
            pairs = [(k, v) for k, v in pairs if k not in dict(change)] + change
        response = await client.post(
            NOTIFY_URLS["alipay"],
            content=httpx.QueryParams(pairs).__str__().encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (response.status_code, response.text) == (400, "failure")
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [n.error_code for n in await notifications()] == ["bad_signature"]


# ---------------------------------------------------------------------------------------------- 13.8


ABSURD_TIMES = {
    "year_9999": "9999-12-31T23:59:59+00:00",
    "year_9999_west": "9999-12-31T23:59:59-12:00",
    "year_1": "0001-01-01T00:00:00+14:00",
    "epoch": "1970-01-01T00:00:00+00:00",
    "tomorrow": None,  # filled in at run time
    "before_the_order": None,
}


class TestGatewayTimesAreChecked:
    def _absurd(self, name: str) -> str:
        if name == "tomorrow":
            return (utcnow() + timedelta(days=1)).isoformat()
        if name == "before_the_order":
            return (utcnow() - timedelta(hours=2)).isoformat()
        return ABSURD_TIMES[name]

    @pytest.mark.parametrize("name", ABSURD_TIMES.keys())
    async def test_an_absurd_sandbox_time_is_replaced_by_the_receive_time(self, client, name):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order, paid_at=self._absurd(name))
        before = utcnow()
        response = await client.post(
            NOTIFY_URLS["sandbox"], content=body, headers={"X-Sandbox-Signature": sandbox.sign(body)}
        )
        after = utcnow()
        assert response.status_code == 200
        row = await payment_row(payment["id"])
        assert before <= row.paid_at <= after
        assert before <= row.confirmed_at <= after
        assert before <= (await order_row(order["id"])).paid_at <= after
        await self._pages_still_work(client, order)

    async def test_a_plausible_time_is_kept_beside_ours(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        said = (utcnow() + timedelta(seconds=5)).replace(microsecond=0)
        body = sandbox_body(payment, order, paid_at=said.isoformat())
        response = await client.post(
            NOTIFY_URLS["sandbox"], content=body, headers={"X-Sandbox-Signature": sandbox.sign(body)}
        )
        assert response.status_code == 200
        row = await payment_row(payment["id"])
        assert row.paid_at == said and row.confirmed_at is not None and row.confirmed_at != said

    @pytest.mark.parametrize(
        "gmt_payment", ["9999-12-31 23:59:59", "0001-01-01 00:00:00", "2000-01-01 00:00:00"]
    )
    async def test_alipay_times_are_checked_too(self, client, gateways, gmt_payment):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        params["gmt_payment"] = gmt_payment
        params = gw.alipay_form({k: v for k, v in params.items() if k not in ("sign", "sign_type")})
        before = utcnow()
        response = await client.post(
            NOTIFY_URLS["alipay"],
            content=gw.form_body(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.text == "success"
        assert before <= (await order_row(order["id"])).paid_at <= utcnow()
        await self._pages_still_work(client, order)

    @pytest.mark.parametrize(
        "success_time",
        ["9999-12-31T23:59:59+08:00", "0001-01-01T00:00:00+08:00", "1999-12-31T23:59:59+08:00"],
    )
    async def test_wechat_times_are_checked_too(self, client, gateways, success_time):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(
            gw.wechat_transaction(out_trade_no, order["total_fen"], success_time=success_time)
        )
        before = utcnow()
        response = await client.post(NOTIFY_URLS["wechat"], content=body, headers=gw.wechat_headers(body))
        assert response.status_code == 204
        assert before <= (await order_row(order["id"])).paid_at <= utcnow()
        await self._pages_still_work(client, order)

    @pytest.mark.parametrize(
        "stored",
        [
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(9999, 12, 31, 16, 0, 0, tzinfo=UTC),
            datetime(1, 1, 1, 0, 0, 0, tzinfo=UTC),
            datetime(1970, 1, 1, tzinfo=UTC),
        ],
    )
    async def test_no_stored_time_breaks_the_back_office_or_the_export(self, client, stored):
        """Rows written before the check (or by hand) must still show."""
        user, _, order = await order_to_pay(client)
        async with session_scope() as session:
            await session.execute(
                update(Order).where(Order.id == order["id"]).values(paid_at=stored, status="paid")
            )
        await self._pages_still_work(client, order)

    @pytest.mark.parametrize("bound", ["0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31"])
    async def test_the_export_takes_the_calendars_edges_as_dates(self, client, bound):
        clerk = await staff()
        for param in ("date_from", "date_to"):
            response = await client.get(
                "/api/admin/orders/export.csv", params={param: bound}, headers=auth(clerk)
            )
            assert response.status_code == 200, response.text

    async def _pages_still_work(self, client: httpx.AsyncClient, order: dict) -> None:
        clerk = await staff()
        export = await client.get("/api/admin/orders/export.csv", headers=auth(clerk))
        assert export.status_code == 200 and order["order_no"] in export.text
        mine = await client.get(f"/api/orders/{order['id']}", headers=auth(await _owner_of(order)))
        assert mine.status_code == 200
        async with _client_at("192.0.2.99") as office:
            await log_in(office, clerk)
            page = await office.get(f"/admin/orders/{order['id']}")
            assert page.status_code == 200 and order["order_no"] in page.text
            listing = await office.get("/admin/orders")
            assert listing.status_code == 200


async def _owner_of(order: dict):
    from app.users.models import User

    async with session_scope() as session:
        row = await session.get(Order, order["id"])
        return await session.get(User, row.user_id)


def test_notice_json_is_what_the_sandbox_sends():
    """The padded body helper above stays valid JSON (so the 64 KiB case is judged on its signature)."""
    assert json.loads(_padded_sandbox_body(1000))["status"] == "success"
