"""The payment channels, each behind the one `Provider` interface."""

from __future__ import annotations

from app.payments.errors import ChannelNotConfigured
from app.payments.providers.alipay import AlipayProvider
from app.payments.providers.base import Provider
from app.payments.providers.sandbox import SandboxProvider
from app.payments.providers.wechat import WechatProvider

PROVIDERS: dict[str, Provider] = {
    p.channel: p for p in (SandboxProvider(), AlipayProvider(), WechatProvider())
}


def get(channel: str) -> Provider:
    """The provider of a channel; ChannelNotConfigured when it is unknown or its keys are not set."""
    provider = PROVIDERS.get(channel)
    if provider is None or not provider.is_configured():
        raise ChannelNotConfigured(f"Payment channel {channel!r} is not available in this shop.")
    return provider
