"""`daoxiang payments check`: each channel's configuration problems, found without calling a gateway."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from app.config import Settings
from app.payments.errors import ChannelNotConfigured
from app.payments.providers import keys

ALIPAY_SETTINGS = ("alipay_app_id", "alipay_private_key", "alipay_public_key")
WECHAT_SETTINGS = (
    "wechat_mch_id",
    "wechat_app_id",
    "wechat_apiv3_key",
    "wechat_private_key",
    "wechat_merchant_serial",
    "wechat_platform_key",
)


def _public_https(url: str, name: str) -> list[str]:
    parts = urlsplit(url)
    problems = []
    if parts.scheme != "https":
        problems.append(f"{name} is not HTTPS: {url}")
    host = (parts.hostname or "").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if not host or host == "localhost" or host.endswith((".local", ".internal", ".localhost")):
        problems.append(f"{name} is not a public address: {url}")
    elif address is not None and not address.is_global:
        problems.append(f"{name} is not a public address: {url}")
    return problems


def _missing(settings: Settings, names: tuple[str, ...]) -> list[str]:
    return [n.upper() for n in names if not getattr(settings, n)]


def _load(problems: list[str], what: str, load) -> object | None:
    try:
        return load()
    except ChannelNotConfigured as exc:
        problems.append(f"{what}: {exc.detail}")
        return None


ALIPAY_CERTIFICATES = ("alipay_app_cert", "alipay_public_cert", "alipay_root_cert")


def check_alipay(settings: Settings) -> list[str] | None:
    """None when Alipay is not configured at all; otherwise its problems (empty: ready). Public-key mode
    (ALIPAY_PUBLIC_KEY) or certificate mode (the three ALIPAY_*_CERT), not both."""
    certificate_mode = any(getattr(settings, n) for n in ALIPAY_CERTIFICATES)
    names = ALIPAY_SETTINGS[:2] + (ALIPAY_CERTIFICATES if certificate_mode else ALIPAY_SETTINGS[2:])
    missing = _missing(settings, names)
    if len(missing) == len(names):
        return None
    problems = [f"{name} is not set" for name in missing]
    if certificate_mode and settings.alipay_public_key:
        problems.append("ALIPAY_PUBLIC_KEY and the ALIPAY_*_CERT certificates are both set: choose one mode")
    if settings.alipay_private_key:
        _load(
            problems, "ALIPAY_PRIVATE_KEY", lambda: keys.load_private_key(settings.alipay_private_key or "")
        )
    if settings.alipay_public_key:
        _load(problems, "ALIPAY_PUBLIC_KEY", lambda: keys.load_public_key(settings.alipay_public_key or ""))
    if settings.alipay_public_cert:
        _load(problems, "ALIPAY_PUBLIC_CERT", lambda: keys.load_public_key(settings.alipay_public_cert or ""))
    if settings.alipay_app_cert:
        _load(problems, "ALIPAY_APP_CERT", lambda: keys.alipay_cert_sn(settings.alipay_app_cert or ""))
    if settings.alipay_root_cert:
        root_sn = _load(
            problems, "ALIPAY_ROOT_CERT", lambda: keys.alipay_root_cert_sn(settings.alipay_root_cert or "")
        )
        if root_sn == "":
            problems.append("ALIPAY_ROOT_CERT holds no RSA certificate")
    if settings.alipay_app_id and not settings.alipay_app_id.isdigit():
        problems.append("ALIPAY_APP_ID should be the app's digits")
    problems += _public_https(settings.public_base_url, "PUBLIC_BASE_URL (the notify URL)")
    if urlsplit(settings.alipay_gateway_url).scheme != "https":
        problems.append(f"ALIPAY_GATEWAY_URL is not HTTPS: {settings.alipay_gateway_url}")
    return problems


def check_wechat(settings: Settings) -> list[str] | None:
    missing = _missing(settings, WECHAT_SETTINGS)
    if len(missing) == len(WECHAT_SETTINGS):
        return None
    problems = [f"{name} is not set" for name in missing]
    if settings.wechat_apiv3_key and len(settings.wechat_apiv3_key.encode()) != 32:
        problems.append("WECHAT_APIV3_KEY must be 32 bytes")
    if settings.wechat_private_key:
        _load(
            problems, "WECHAT_PRIVATE_KEY", lambda: keys.load_private_key(settings.wechat_private_key or "")
        )
    if settings.wechat_platform_key:
        value, configured = settings.wechat_platform_key, settings.wechat_platform_serial
        loaded = _load(problems, "WECHAT_PLATFORM_KEY", lambda: keys.load_public_keys(value, configured))
        if loaded is not None and configured and value.count("-----BEGIN") <= 1:
            _, cert_serial = keys.load_public_key(value)
            if cert_serial is not None and not keys.same_serial(configured, cert_serial):
                problems.append(
                    f"WECHAT_PLATFORM_SERIAL {configured} is not the certificate's serial {cert_serial}"
                )
    serial = settings.wechat_merchant_serial or ""
    if serial and not all(c in "0123456789ABCDEFabcdef" for c in serial):
        problems.append("WECHAT_MERCHANT_SERIAL should be the hex serial of the merchant API certificate")
    problems += _public_https(settings.public_base_url, "PUBLIC_BASE_URL (the notify URL)")
    if urlsplit(settings.wechat_api_base_url).scheme != "https":
        problems.append(f"WECHAT_API_BASE_URL is not HTTPS: {settings.wechat_api_base_url}")
    return problems


def check_all(settings: Settings) -> dict[str, list[str] | None]:
    report: dict[str, list[str] | None] = {"alipay": check_alipay(settings), "wechat": check_wechat(settings)}
    sandbox = []
    if settings.app_env == "prod" and settings.sandbox_payments_enabled:
        sandbox.append("the sandbox is on in production: anyone could mark an order paid")
    report["sandbox"] = sandbox if settings.sandbox_payments_enabled else None
    return report
