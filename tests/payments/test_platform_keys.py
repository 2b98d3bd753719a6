"""Platform keys (issue 16.8): several WeChat Pay platform keys by serial, its public-key mode beside
certificates, `daoxiang payments fetch-certificates` (checked against wechatpayv3's own download), and
Alipay's certificate mode (公钥证书) beside its public-key mode (checked against python-alipay-sdk)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from app.config import get_settings
from app.errors import AppError
from app.payments import service
from app.payments.providers import wechat
from tests.payments import gateway as gw
from tests.payments.factories import order_to_pay, payment_row, start_payment, state_of

NEW_PLATFORM = gw.new_key()  # the key WeChat Pay rotates to
OLD_SERIAL = 0x1F0A5F09EFDC096DE15EBE81A47057A7232F1B8E
NEW_SERIAL = 0x2A6B7C09EFDC096DE15EBE81A47057A7232F1B8F


def certificate(key, serial: int, **options) -> str:
    return gw.platform_certificate(serial, key=key, **options)


@pytest.fixture(autouse=True)
def _forget_fetched():
    wechat.STORED.clear()
    yield
    wechat.STORED.clear()


async def _wechat_notice(client, *, key, serial: str):
    user, _, order = await order_to_pay(client)
    payment = await start_payment(client, user, order["id"], "wechat")
    out_trade_no = (await payment_row(payment["id"])).out_trade_no
    body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
    response = await client.post(
        "/api/payments/wechat/notify", content=body, headers=gw.wechat_headers(body, key=key, serial=serial)
    )
    return response, await state_of(order["id"], payment["id"])


class TestSeveralWechatPlatformKeys:
    """During a rotation WeChat Pay signs with the old or the new key; both are accepted, each only under
    its own serial."""

    @pytest.fixture
    def rotating(self, gateways, monkeypatch):
        both = certificate(gw.WECHAT_PLATFORM, OLD_SERIAL) + certificate(NEW_PLATFORM, NEW_SERIAL)
        monkeypatch.setattr(get_settings(), "wechat_platform_key", both)
        monkeypatch.setattr(get_settings(), "wechat_platform_serial", None)
        gateways.answer_serial = f"{OLD_SERIAL:X}"
        return gateways

    @pytest.mark.parametrize(
        "signer,serial,accepted",
        [
            ("old", f"{OLD_SERIAL:X}", True),
            ("new", f"{NEW_SERIAL:X}", True),
            ("new", f"{NEW_SERIAL:042X}", True),  # leading zeros: the same number
            ("new", f"{OLD_SERIAL:X}", False),  # a key only under its own serial
            ("old", f"{NEW_SERIAL:X}", False),
            ("attacker", f"{NEW_SERIAL:X}", False),
            ("new", gw.WECHAT_PLATFORM_SERIAL, False),
        ],
    )
    async def test_each_key_under_its_own_serial(self, client, rotating, signer, serial, accepted):
        key = {"old": gw.WECHAT_PLATFORM, "new": NEW_PLATFORM, "attacker": gw.ATTACKER}[signer]
        response, state = await _wechat_notice(client, key=key, serial=serial)
        assert response.status_code == (204 if accepted else 400)
        assert state == (("paid", "succeeded") if accepted else ("pending_payment", "pending"))

    async def test_public_key_mode_beside_a_certificate(self, client, gateways, monkeypatch):
        """Moving from certificates to WeChat Pay's public key: the public key (under its id) and the
        certificate are both accepted meanwhile."""
        monkeypatch.setattr(
            get_settings(),
            "wechat_platform_key",
            gw.public_pem(gw.WECHAT_PLATFORM) + certificate(NEW_PLATFORM, NEW_SERIAL),
        )
        response, state = await _wechat_notice(
            client, key=gw.WECHAT_PLATFORM, serial=gw.WECHAT_PLATFORM_SERIAL
        )
        assert (response.status_code, state) == (204, ("paid", "succeeded"))
        response, state = await _wechat_notice(client, key=NEW_PLATFORM, serial=f"{NEW_SERIAL:X}")
        assert (response.status_code, state) == (204, ("paid", "succeeded"))
        response, _ = await _wechat_notice(client, key=NEW_PLATFORM, serial=gw.WECHAT_PLATFORM_SERIAL)
        assert response.status_code == 400

    async def test_files_separated_by_commas(self, client, gateways, monkeypatch, tmp_path):
        old, new = tmp_path / "old.pem", tmp_path / "new.pem"
        old.write_text(certificate(gw.WECHAT_PLATFORM, OLD_SERIAL))
        new.write_text(certificate(NEW_PLATFORM, NEW_SERIAL))
        monkeypatch.setattr(get_settings(), "wechat_platform_key", f"{old},{new}")
        monkeypatch.setattr(get_settings(), "wechat_platform_serial", None)
        gateways.answer_serial = f"{OLD_SERIAL:X}"
        response, _ = await _wechat_notice(client, key=NEW_PLATFORM, serial=f"{NEW_SERIAL:X}")
        assert response.status_code == 204


class TestFetchCertificates:
    """`daoxiang payments fetch-certificates`: a rotation needs no change of settings."""

    @pytest.fixture
    def rotated(self, gateways):
        gateways.platform_certificates = [
            certificate(gw.WECHAT_PLATFORM, OLD_SERIAL),
            certificate(NEW_PLATFORM, NEW_SERIAL),
        ]
        return gateways

    @staticmethod
    def _answers_signed_by_the_new_key(gateways) -> None:
        gateways.answer_key, gateways.answer_serial = NEW_PLATFORM, f"{NEW_SERIAL:X}"

    async def test_a_notice_under_a_fetched_serial_is_accepted_without_a_change_of_settings(
        self, client, rotated
    ):
        before, _ = await _wechat_notice(client, key=NEW_PLATFORM, serial=f"{NEW_SERIAL:X}")
        assert before.status_code == 400
        self._answers_signed_by_the_new_key(rotated)

        results = await service.fetch_platform_certificates()

        assert sorted((c.serial, new) for c, new in results) == sorted(
            [(f"{OLD_SERIAL:X}", True), (f"{NEW_SERIAL:X}", True)]
        )
        wechat.STORED.clear()  # another server: it reads them from the database
        after, state = await _wechat_notice(client, key=NEW_PLATFORM, serial=f"{NEW_SERIAL:X}")
        assert (after.status_code, state) == (204, ("paid", "succeeded"))
        again = await service.fetch_platform_certificates()
        assert [new for _, new in again] == [False, False]

    async def test_a_new_serial_is_looked_up_at_once_not_after_the_cache_expires(self, client, rotated):
        response, _ = await _wechat_notice(client, key=gw.WECHAT_PLATFORM, serial=gw.WECHAT_PLATFORM_SERIAL)
        assert response.status_code == 204  # the process has read the (empty) store now
        self._answers_signed_by_the_new_key(rotated)
        await service.fetch_platform_certificates()
        rotated.answer_key = rotated.answer_serial = None
        wechat.STORED.loaded_at -= wechat.STORED.MIN_GAP_SECONDS  # a few seconds later, well within the TTL
        after, _ = await _wechat_notice(client, key=NEW_PLATFORM, serial=f"{NEW_SERIAL:X}")
        assert after.status_code == 204

    async def test_the_sdk_downloads_the_same_certificates(self, rotated, gateway_server):
        from wechatpayv3.core import Core

        sdk = Core(
            mchid=gw.WECHAT_MCH_ID,
            cert_serial_no=gw.WECHAT_MERCHANT_SERIAL,
            private_key=gw.private_pem(gw.WECHAT_MERCHANT),
            apiv3_key=gw.WECHAT_APIV3_KEY,
            public_key=gw.public_pem(gw.WECHAT_PLATFORM),
            public_key_id=gw.WECHAT_PLATFORM_SERIAL,
        )
        sdk._gate_way = gateway_server.url
        sdk._update_certificates()
        theirs = sorted(format(c.serial_number, "X") for c in sdk._certificates)
        ours = sorted(c.serial for c, _ in await service.fetch_platform_certificates())
        assert ours == theirs == sorted([f"{OLD_SERIAL:X}", f"{NEW_SERIAL:X}"])

    @pytest.mark.parametrize("attack", ["other_apiv3_key", "forged_answer", "listed_under_another_serial"])
    async def test_an_unverifiable_list_stores_nothing(self, client, rotated, attack):
        if attack == "other_apiv3_key":
            rotated.certificates_apiv3_key = "f" * 32
        elif attack == "forged_answer":
            rotated.answer_key = gw.ATTACKER
        else:
            rotated.listed_serial = f"{OLD_SERIAL:X}"
        with pytest.raises(AppError):
            await service.fetch_platform_certificates()
        rotated.answer_key = None
        response, _ = await _wechat_notice(client, key=NEW_PLATFORM, serial=f"{NEW_SERIAL:X}")
        assert response.status_code == 400

    async def test_expired_and_future_certificates_are_not_stored(self, rotated):
        rotated.platform_certificates = [
            certificate(NEW_PLATFORM, NEW_SERIAL),
            certificate(gw.WECHAT_PLATFORM, OLD_SERIAL, days=-1, start=-30),
            certificate(gw.ATTACKER, 0x77, days=60, start=30),
        ]
        assert [c.serial for c, _ in await service.fetch_platform_certificates()] == [f"{NEW_SERIAL:X}"]

    def test_the_command_fails_cleanly_without_wechat(self):
        """The real command, in its own process (it runs its own event loop)."""
        import os
        import subprocess
        import sys

        env = {**os.environ, "WECHAT_MCH_ID": "", "WECHAT_PRIVATE_KEY": "", "LOG_LEVEL": "ERROR"}
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "payments", "fetch-certificates"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "not configured" in result.stderr


# ------------------------------------------------------------------------------------ Alipay certificates

ANT_CA = gw.new_key()
ANT_ROOT_CA = gw.new_key()


def _ant_name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ant Financial"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ant_certificate(
    public_key,
    serial: int,
    subject: str,
    *,
    issuer_key=ANT_CA,
    issuer: str = "Ant Financial Certification Authority Class 1 R1",
) -> str:
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(_ant_name(issuer))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ant_root_chain() -> str:
    """Two RSA roots and an elliptic-curve one (Alipay's chain holds an SM2 root that is left out of the SN),
    separated by a blank line as in alipayRootCert.crt."""
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    return "\n".join(
        [
            ant_certificate(
                ANT_ROOT_CA.public_key(),
                0x5A,
                "Ant Financial Certification Authority R1",
                issuer_key=ANT_ROOT_CA,
                issuer="Ant Financial Certification Authority R1",
            ),
            ant_certificate(
                ec_key.public_key(),
                0x5B,
                "Ant Financial Certification Authority E1",
                issuer_key=ec_key,
                issuer="Ant Financial Certification Authority E1",
            ),
            ant_certificate(
                ANT_CA.public_key(),
                0x5C,
                "Ant Financial Certification Authority Class 1 R1",
                issuer_key=ANT_ROOT_CA,
                issuer="Ant Financial Certification Authority R1",
            ),
        ]
    )


APP_CERT = ant_certificate(gw.ALIPAY_MERCHANT.public_key(), 0x2021000000000001ABCDEF, gw.ALIPAY_APP_ID)
ALIPAY_CERT = ant_certificate(
    gw.ALIPAY_PLATFORM.public_key(), 0x2019082200555046, "支付宝(中国)网络技术有限公司"
)
ROOT_CERT = ant_root_chain()


def alipay_sdk_with_certificates():
    from alipay import DCAliPay

    return DCAliPay(
        appid=gw.ALIPAY_APP_ID,
        app_private_key_string=gw.private_pem(gw.ALIPAY_MERCHANT),
        app_public_key_cert_string=APP_CERT,
        alipay_public_key_cert_string=ALIPAY_CERT,
        alipay_root_cert_string=ROOT_CERT,
    )


class TestAlipayCertificateMode:
    """公钥证书: requests carry app_cert_sn and alipay_root_cert_sn (computed as python-alipay-sdk's DCAliPay
    computes them); notices and answers are verified with Alipay's public key certificate."""

    @pytest.fixture
    def certificate_mode(self, gateways, monkeypatch):
        s = get_settings()
        monkeypatch.setattr(s, "alipay_public_key", None)
        monkeypatch.setattr(s, "alipay_app_cert", APP_CERT)
        monkeypatch.setattr(s, "alipay_public_cert", ALIPAY_CERT)
        monkeypatch.setattr(s, "alipay_root_cert", ROOT_CERT)
        sdk = alipay_sdk_with_certificates()
        gateways.alipay_cert_sns = (sdk.app_cert_sn, sdk.alipay_root_cert_sn)
        gateways.alipay_answer_cert_sn = sdk.get_cert_sn(ALIPAY_CERT)
        return gateways

    def test_the_serial_numbers_are_the_sdks(self):
        from app.payments.providers import keys

        sdk = alipay_sdk_with_certificates()
        assert keys.alipay_cert_sn(APP_CERT) == sdk.app_cert_sn
        assert keys.alipay_root_cert_sn(ROOT_CERT) == sdk.alipay_root_cert_sn
        assert sdk.alipay_root_cert_sn.count("_") == 1  # the elliptic-curve root is left out

    async def test_page_pay_is_signed_under_both_serial_numbers(self, client, certificate_mode):
        from urllib.parse import parse_qsl, urlsplit

        from app.payments.providers.alipay import sign_content

        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        params = dict(parse_qsl(urlsplit(payment["pay_url"]).query))
        assert (params["app_cert_sn"], params["alipay_root_cert_sn"]) == certificate_mode.alipay_cert_sns
        sdk = alipay_sdk_with_certificates()
        assert sdk._sign(sign_content(params)) == params["sign"]  # the SDK signs the same bytes the same way

    async def test_query_refund_and_notice_work_in_certificate_mode(
        self, client, certificate_mode, monkeypatch
    ):
        from app.worker import run_job
        from tests.orders.factories import staff
        from tests.payments.providers_helpers import yuan
        from tests.users.factories import auth

        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        certificate_mode.alipay_trades[out_trade_no] = ("TRADE_SUCCESS", order["total_fen"])
        assert await run_job("payments.reconcile") == 1  # the query went through and its answer verified
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        notice = gw.alipay_notification(out_trade_no, yuan(order["total_fen"]))
        replay = await client.post(
            "/api/payments/alipay/notify",
            content=gw.form_body(notice),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert replay.text == "success"
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(user)
        )
        refunded = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert refunded.json()["status"] == "refunded"

    async def test_a_notice_signed_by_another_key_is_refused(self, client, certificate_mode):
        from tests.payments.providers_helpers import yuan

        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        forged = gw.alipay_notification(out_trade_no, yuan(order["total_fen"]), key=gw.ATTACKER)
        response = await client.post(
            "/api/payments/alipay/notify",
            content=gw.form_body(forged),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (response.status_code, response.text) == (400, "failure")

    async def test_an_answer_under_a_renewed_alipay_certificate_is_not_believed(
        self, client, certificate_mode, monkeypatch
    ):
        from app.worker import run_job

        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)
        certificate_mode.alipay_answer_cert_sn = "0" * 32
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        certificate_mode.alipay_trades[out_trade_no] = ("TRADE_SUCCESS", order["total_fen"])
        assert await run_job("payments.reconcile") == 0
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    async def test_public_key_mode_sends_no_certificate_serials(self, client, gateways, monkeypatch):
        from urllib.parse import parse_qsl, urlsplit

        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        params = dict(parse_qsl(urlsplit(payment["pay_url"]).query))
        assert "app_cert_sn" not in params and "alipay_root_cert_sn" not in params

    def test_the_check_names_a_half_configured_certificate_mode(self):
        from app.payments.checks import check_all

        settings = get_settings().model_copy(
            update={
                **gw.settings_for("https://api.mch.weixin.qq.com"),
                "alipay_gateway_url": "https://openapi.alipay.com/gateway.do",
                "public_base_url": "https://shop.example.com",
                "alipay_public_key": None,
                "alipay_app_cert": APP_CERT,
                "alipay_public_cert": ALIPAY_CERT,
            }
        )
        assert check_all(settings)["alipay"] == ["ALIPAY_ROOT_CERT is not set"]
        ready = settings.model_copy(update={"alipay_root_cert": ROOT_CERT})
        assert check_all(ready)["alipay"] == []
