from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.config import get_settings
from app.db import utcnow
from app.users import repository, security, throttle
from app.users.errors import (
    AddressNotFound,
    InvalidCredentials,
    InvalidRefreshToken,
    PhoneTaken,
    RefreshTokenReused,
    TooManyAddresses,
    TooManyAttempts,
)
from app.users.models import Address, RefreshToken, Role, User
from app.users.schemas import AddressCreate, AddressUpdate, TokenPair, UserCreate


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await repository.get(session, user_id)


async def register(
    session: AsyncSession, data: UserCreate, *, client_ip: str, role: Role = Role.customer
) -> User:
    settings = get_settings()
    attempt = await throttle.claim(
        f"register:ip:{client_ip}", settings.register_window_seconds, settings.register_max_per_ip
    )
    if not attempt.allowed:
        raise TooManyAttempts(
            "Too many registrations from this address; try again later.", retry_after=attempt.retry_after
        )
    if await repository.get_by_phone(session, data.phone) is not None:
        raise PhoneTaken("This phone number is already registered.")
    user = User(
        phone=data.phone,
        password_hash=await security.hash_password(data.password),
        nickname=data.nickname or f"稻香用户{data.phone[-4:]}",
        role=role.value,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # two registrations of one phone at the same moment
        raise PhoneTaken("This phone number is already registered.") from exc
    await events.emit(
        session,
        "user.registered",
        {"user_id": user.id, "role": user.role, "registered_at": user.created_at.isoformat()},
        subject=f"user/{user.id}",
    )
    return user


async def login(session: AsyncSession, phone: str, password: str, *, client_ip: str) -> TokenPair:
    settings = get_settings()
    window = settings.login_failure_window_seconds
    # Every attempt is counted as a failure before the password is checked, and given back if it
    # succeeds: concurrent guesses (even spread over several server processes) cannot all slip in.
    claims = []
    for key, limit in (
        (f"login:phone:{phone}", settings.login_max_failures_per_phone),
        (f"login:ip:{client_ip}", settings.login_max_failures_per_ip),
    ):
        attempt = await throttle.claim(key, window, limit)
        if not attempt.allowed:
            for earlier in claims:
                await throttle.release(earlier)
            raise TooManyAttempts("Too many failed logins; try again later.", retry_after=attempt.retry_after)
        claims.append(attempt)
    user = await repository.get_by_phone(session, phone)
    ok = await security.verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.is_active:
        raise InvalidCredentials("Wrong phone number or password.")
    await throttle.reset(f"login:phone:{phone}")
    await throttle.release(claims[1])
    return await _issue_tokens(session, user, family_id=secrets.token_hex(16))


async def _issue_tokens(session: AsyncSession, user: User, *, family_id: str) -> TokenPair:
    settings = get_settings()
    access, expires_in = security.create_access_token(user.id, user.role)
    refresh = security.new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=security.hash_refresh_token(refresh),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
        )
    )
    await session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


async def issue_tokens(session: AsyncSession, user: User) -> TokenPair:
    """A fresh login for a user whose identity is already proven (e.g. right after registering)."""
    return await _issue_tokens(session, user, family_id=secrets.token_hex(16))


async def user_for_refresh_token(session: AsyncSession, refresh_token: str) -> User | None:
    """The active user behind a live (unused, unrevoked, unexpired) refresh token; pages use the refresh
    token as their server-side session, so logging out (revoking it) ends the page session too."""
    stored = await repository.get_refresh_by_hash(session, security.hash_refresh_token(refresh_token))
    if stored is None or stored.used_at is not None or stored.revoked_at is not None:
        return None
    if stored.expires_at <= utcnow():
        return None
    user = await repository.get(session, stored.user_id)
    if user is None or not user.is_active:
        return None
    return user


async def refresh(session: AsyncSession, refresh_token: str) -> TokenPair:
    stored = await repository.get_refresh_by_hash(session, security.hash_refresh_token(refresh_token))
    if stored is None or stored.expires_at <= utcnow():
        raise InvalidRefreshToken("The refresh token is not valid.")
    if not await repository.mark_refresh_used(session, stored.id):
        # Used before or revoked: whoever holds this family's newest token may be an attacker.
        await repository.revoke_family(session, stored.family_id)
        raise RefreshTokenReused("The refresh token was already used; please log in again.")
    user = await repository.get(session, stored.user_id)
    if user is None or not user.is_active:
        raise InvalidRefreshToken("The refresh token is not valid.")
    return await _issue_tokens(session, user, family_id=stored.family_id)


async def logout(session: AsyncSession, refresh_token: str) -> None:
    stored = await repository.get_refresh_by_hash(session, security.hash_refresh_token(refresh_token))
    if stored is not None:
        await repository.revoke_family(session, stored.family_id)


async def create_admin(session: AsyncSession, phone: str, password: str, role: Role = Role.admin) -> User:
    """Create a staff account, or promote and re-password an existing one (idempotent)."""
    user = await repository.get_by_phone(session, phone)
    password_hash = await security.hash_password(password)
    if user is None:
        user = User(phone=phone, password_hash=password_hash, nickname="管理员", role=role.value)
        session.add(user)
    else:
        user.role = role.value
        user.password_hash = password_hash
    await session.flush()
    return user


async def purge_expired(session: AsyncSession) -> int:
    """Worker job: drop refresh tokens expired (or revoked) a day ago and throttle hits older than a day."""
    day_ago = utcnow() - timedelta(days=1)
    removed = await repository.purge_refresh_tokens(session, day_ago)
    removed += await throttle.purge_older_than(
        session,
        max(86_400, get_settings().register_window_seconds, get_settings().login_failure_window_seconds),
    )
    return removed


# Addresses: exactly one default whenever a user has any.


async def list_addresses(session: AsyncSession, user: User) -> Sequence[Address]:
    return await repository.list_addresses(session, user.id)


async def get_address_or_raise(session: AsyncSession, user: User, address_id: int) -> Address:
    address = await repository.get_address(session, user.id, address_id)
    if address is None:
        raise AddressNotFound("No such address.")
    return address


async def create_address(session: AsyncSession, user: User, data: AddressCreate) -> Address:
    await repository.lock(session, user.id)  # the count below holds until this transaction ends
    limit = get_settings().max_addresses_per_customer
    if await repository.count_addresses(session, user.id) >= limit:
        raise TooManyAddresses(f"At most {limit} addresses per account; delete one first.", limit=limit)
    first = await repository.newest_address(session, user.id) is None
    address = Address(
        user_id=user.id, **data.model_dump(exclude={"is_default"}), is_default=data.is_default or first
    )
    session.add(address)
    await session.flush()
    if address.is_default:
        await repository.clear_default(session, user.id, except_id=address.id)
    return address


async def update_address(session: AsyncSession, user: User, address_id: int, data: AddressUpdate) -> Address:
    await repository.lock(session, user.id)
    address = await get_address_or_raise(session, user, address_id)
    for field, value in data.model_dump(exclude_unset=True, exclude={"is_default"}).items():
        if value is None:
            continue
        setattr(address, field, value)
    if data.province is not None:
        address.needs_correction = False  # the province was chosen again, from the list
    if data.is_default:
        await repository.clear_default(session, user.id, except_id=address.id)
        address.is_default = True
    await session.flush()
    return address


async def delete_address(session: AsyncSession, user: User, address_id: int) -> None:
    await repository.lock(session, user.id)
    address = await get_address_or_raise(session, user, address_id)
    was_default = address.is_default
    await session.delete(address)
    await session.flush()
    if was_default:
        successor = await repository.newest_address(session, user.id)
        if successor is not None:
            successor.is_default = True
            await session.flush()
