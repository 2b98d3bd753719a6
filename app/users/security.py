"""Passwords (argon2id, OWASP parameters) and tokens (short-lived JWT access, random refresh)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.config import get_settings

# OWASP password storage cheat sheet: argon2id, m=19 MiB, t=2, p=1.
_password_hash = PasswordHash((Argon2Hasher(memory_cost=19 * 1024, time_cost=2, parallelism=1),))
# Verified against when the phone is unknown, so both failures take the same time.
_DUMMY_HASH = _password_hash.hash("not-a-real-password-only-for-timing")

JWT_ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = [JWT_ALGORITHM]


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_password_hash.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    target = password_hash or _DUMMY_HASH

    def _verify() -> bool:
        try:
            return _password_hash.verify(password, target)
        except Exception:  # a malformed stored hash is a failed login, not a crash
            return False

    ok = await anyio.to_thread.run_sync(_verify)
    return ok and password_hash is not None


# A user id in a token: ASCII digits, no sign, no leading zero, within a BIGINT (app.kit.params.MAX_ID).
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
MAX_USER_ID = 2**63 - 1


def parse_user_id(value: object) -> int | None:
    """The user id of a token's `sub`, or None unless it is the canonical decimal form of 1..2**63-1
    (`str.isdigit()` also takes "²" and "٣", which int() refuses)."""
    if not isinstance(value, str) or not _USER_ID.fullmatch(value):
        return None
    user_id = int(value)
    return user_id if user_id <= MAX_USER_ID else None


def create_access_token(
    user_id: int, role: str, now: datetime | None = None, *, token_version: int = 0
) -> tuple[str, int]:
    """A signed access token. `ver` is the user's token version when it was issued: logging out
    everywhere, a password change, disabling and a role change raise the version, and every token carrying
    an older one stops working (app.users.revocation)."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(user_id),
        "role": role,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "typ": "access",
        "ver": token_version,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM), int(lifetime.total_seconds())


# Verified tokens, so that a customer's next requests skip the signature check and PyJWT's claim checks
# (~100 us a request, a twentieth of a checkout). Only the expiry needs checking again: the same string
# carries the same signed claims. Bounded; emptied when full or when the settings (the key) change.
_VERIFIED_MAX = 10_000
_verified: dict[str, dict[str, Any]] = {}
_verified_for: list[object] = [None]


def decode_access_token(token: str) -> dict[str, Any] | None:
    settings = get_settings()
    if _verified_for[0] is not settings:
        _verified.clear()
        _verified_for[0] = settings
    claims = _verified.get(token)
    if claims is not None:
        if claims["exp"] > time.time():
            return claims
        _verified.pop(token, None)
        return None
    claims = _verify_access_token(token)
    if claims is not None:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[token] = claims
    return claims


def _verify_access_token(token: str) -> dict[str, Any] | None:
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=ALLOWED_ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    user_id = parse_user_id(claims.get("sub"))
    version = claims.get("ver", 0)  # tokens issued before versions existed carry none: version 0
    if user_id is None or type(version) is not int or not 0 <= version <= MAX_USER_ID:
        return None
    claims["uid"] = user_id
    claims["ver"] = version
    return claims


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
