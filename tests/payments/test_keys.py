"""Keys and certificates come from configuration in the forms merchants actually have them."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from app.payments.errors import ChannelNotConfigured
from app.payments.providers import keys
from tests.payments import gateway as gw


class TestLoadingKeys:
    def test_pem_text_with_escaped_newlines(self):
        one_line = gw.private_pem(gw.ALIPAY_MERCHANT).replace("\n", "\\n")
        key = keys.load_private_key(one_line)
        signature = keys.rsa_sign(key, b"k=v")
        assert keys.rsa_verify(gw.ALIPAY_MERCHANT.public_key(), b"k=v", signature)

    def test_a_path_to_a_pem_file(self, tmp_path):
        path = tmp_path / "alipay_public_key.pem"
        path.write_text(gw.public_pem(gw.ALIPAY_PLATFORM))
        key, serial = keys.load_public_key(str(path))
        assert serial is None
        assert keys.rsa_verify(key, b"x", keys.rsa_sign(gw.ALIPAY_PLATFORM, b"x"))

    def test_alipays_bare_base64_public_key(self):
        der = gw.ALIPAY_PLATFORM.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key, _ = keys.load_public_key(base64.b64encode(der).decode())
        assert keys.rsa_verify(key, b"x", keys.rsa_sign(gw.ALIPAY_PLATFORM, b"x"))

    def test_a_platform_certificate_gives_its_serial(self):
        key, serial = keys.load_public_key(
            gw.platform_certificate(0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1)
        )
        assert serial == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
        assert keys.rsa_verify(key, b"x", keys.rsa_sign(gw.WECHAT_PLATFORM, b"x"))

    @pytest.mark.parametrize(
        "value", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]
    )
    def test_garbage_is_a_clear_configuration_error(self, value):
        with pytest.raises(ChannelNotConfigured):
            keys.load_public_key(value)


class TestWechatWithAPlatformCertificate:
    async def test_the_serial_comes_from_the_certificate(self, client, gateways, monkeypatch):
        from app.config import get_settings
        from tests.payments.factories import order_to_pay, payment_row, start_payment, state_of

        settings = get_settings()
        monkeypatch.setattr(settings, "wechat_platform_key", gw.platform_certificate(0xABCDEF0123))
        monkeypatch.setattr(settings, "wechat_platform_serial", None)
        user, _, order = await order_to_pay(client)
        # Creating a WeChat payment verifies the stand-in's answer, which carries the configured serial.
        monkeypatch.setattr(gw, "WECHAT_PLATFORM_SERIAL", "ABCDEF0123")
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        response = await client.post(
            "/api/payments/wechat/notify", content=body, headers=gw.wechat_headers(body, serial="ABCDEF0123")
        )
        assert response.status_code == 204
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
