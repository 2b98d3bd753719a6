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


def certificate(
    key, serial: int, *, days: int = 365, issuer: str = "Tenpay.com Root CA", start: int = -1
) -> str:
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

    def test_the_command_prints_each_certificate_and_fails_without_wechat(self, monkeypatch):
        from typer.testing import CliRunner

        from app.cli import cli

        for name in ("wechat_mch_id", "wechat_private_key"):
            monkeypatch.setattr(get_settings(), name, None)
        result = CliRunner().invoke(cli, ["payments", "fetch-certificates"])
        assert result.exit_code == 1
        assert "not configured" in result.output
