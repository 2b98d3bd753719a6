"""Keys and certificates from configuration: PEM text, a path to a PEM file, or Alipay's bare base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
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


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


def load_public_keys(value: str, serial: str | None = None) -> dict[str, rsa.RSAPublicKey]:
    """Several platform keys by serial (WeChat Pay during a rotation, or while moving from certificates to
    its public-key mode): PEM text with several blocks, or several file paths separated by commas. A
    certificate names itself by its serial (upper-case hex); a bare public key needs `serial` (its public
    key id). `serial` given with a single certificate names it instead (as WECHAT_PLATFORM_SERIAL did)."""
    text = value.strip().replace("\\n", "\n")
    parts = [p.strip() for p in text.split(",")] if "-----BEGIN" not in text else [text]
    blocks: list[str] = []
    for part in parts:
        found = [m.group(0).decode() for m in _PEM_BLOCK.finditer(_pem_or_der(part))]
        blocks += found or [part]  # one key as base64 DER
    loaded: dict[str, rsa.RSAPublicKey] = {}
    for block in blocks:
        key, cert_serial = load_public_key(block)
        name = cert_serial if cert_serial is not None and not (serial and len(blocks) == 1) else serial
        if name is None:
            raise ChannelNotConfigured("A bare platform public key needs its id (WECHAT_PLATFORM_SERIAL).")
        loaded[name] = key
    return loaded


def find_by_serial(keys_by_serial: dict[str, rsa.RSAPublicKey], given: str) -> rsa.RSAPublicKey | None:
    for serial, key in keys_by_serial.items():
        if same_serial(given, serial):
            return key
    return None


# ------------------------------------------------------------------------- Alipay's certificate mode (公钥证书)

_RSA_SIGNATURES = {
    x509.SignatureAlgorithmOID.RSA_WITH_MD5,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA1,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA224,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA256,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA384,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA512,
}


def _certificates(value: str) -> list[x509.Certificate]:
    data = _pem_or_der(value)
    try:
        return [x509.load_pem_x509_certificate(m.group(0)) for m in _PEM_BLOCK.finditer(data)] or [
            x509.load_der_x509_certificate(data)
        ]
    except ValueError as exc:
        raise ChannelNotConfigured("A configured certificate cannot be read.") from exc


def _issuer_sn(cert: x509.Certificate) -> str:
    """Alipay's certificate SN: md5 of the issuer (`CN=…,OU=…,O=…,C=…`, most specific first) followed by the
    decimal serial number."""
    issuer = ",".join(
        f"{attr.rfc4514_attribute_name}={attr.value}" for rdn in reversed(cert.issuer.rdns) for attr in rdn
    )
    return hashlib.md5((issuer + str(cert.serial_number)).encode()).hexdigest()  # noqa: S324 - Alipay's rule


def alipay_cert_sn(value: str) -> str:
    """`app_cert_sn` of the app's public key certificate (or the SN of Alipay's public key certificate)."""
    return _issuer_sn(_certificates(value)[0])


def alipay_root_cert_sn(value: str) -> str:
    """`alipay_root_cert_sn`: the SNs of the root chain's RSA-signed certificates joined by `_` (the chain
    also holds an SM2 root, which is left out)."""
    return "_".join(
        _issuer_sn(c) for c in _certificates(value) if c.signature_algorithm_oid in _RSA_SIGNATURES
    )
