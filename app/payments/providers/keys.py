"""Keys and certificates from configuration: PEM text, a path to a PEM file, or Alipay's bare base64."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.payments.errors import ChannelNotConfigured


def _pem_or_der(value: str) -> bytes:
    text = value.strip().replace("\\n", "\n")
    if "-----BEGIN" in text:
        return text.encode()
    if len(text) < 1024 and "\n" not in text:
        path = Path(text).expanduser()
        if path.is_file():
            return path.read_bytes()
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ChannelNotConfigured("A configured payment key is neither PEM, a file, nor base64.") from exc


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    data = _pem_or_der(value)
    try:
        key = (
            serialization.load_pem_private_key(data, password=None)
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_private_key(data, password=None)
        )
    except (ValueError, TypeError) as exc:
        raise ChannelNotConfigured("A configured payment private key cannot be read.") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ChannelNotConfigured("Payment private keys must be RSA keys.")
    return key


def load_public_key(value: str) -> tuple[rsa.RSAPublicKey, str | None]:
    """The RSA public key, and the certificate's serial number (upper-case hex) when a certificate is given."""
    data = _pem_or_der(value)
    serial: str | None = None
    try:
        if b"CERTIFICATE" in data:
            cert = x509.load_pem_x509_certificate(data)
            key = cert.public_key()
            serial = format(cert.serial_number, "X")
        elif data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except ValueError as exc:
        raise ChannelNotConfigured("A configured payment public key or certificate cannot be read.") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ChannelNotConfigured("Payment public keys must be RSA keys.")
    return key, serial


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64 — what Alipay calls RSA2 and WeChat Pay v3 uses."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def same_serial(given: str, expected: str) -> bool:
    """Certificate serials compared as numbers when both are hex (as the WeChat Pay SDK does: a header
    `0A5F…` names the certificate whose serial prints as `A5F…`), otherwise as text (public key ids)."""
    try:
        return int(given, 16) == int(expected, 16)
    except ValueError:
        return given.upper() == expected.upper()
