from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit, events
from app.config import get_settings
from app.db import utcnow
from app.errors import Forbidden
from app.kit.pagination import PageParams
from app.users import passwords, repository, revocation, security, throttle
from app.users.errors import (
    AddressNotFound,
    CannotChangeOwnAccount,
    InvalidCredentials,
    InvalidRefreshToken,
    LastAdmin,
    PhoneTaken,
    RefreshTokenReused,
    TooManyAddresses,
    TooManyAttempts,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from app.users.models import Address, RefreshToken, Role, User
from app.users.schemas import (
    AddressCreate,
    AddressUpdate,
    PasswordChange,
    TokenPair,
    UserCreate,
    UserUpdate,
)


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await repository.get(session, user_id)


async def active_staff_ids(session: AsyncSession) -> list[int]:
    """Every active merchant and administrator, for what only staff can settle."""
    return await repository.active_staff_ids(session)


def check_new_password(password: str, *, phone: str, nickname: str | None = None) -> None:
    """The one rule for a password being set (app.users.passwords); WeakPassword when it is refused."""
    problem = passwords.problem(password, phone=phone, nickname=nickname)
    if problem is not None:
        raise WeakPassword(problem)


async def register(
    session: AsyncSession, data: UserCreate, *, client_ip: str, role: Role = Role.customer
) -> User:
    settings = get_settings()
    attempt = await throttle.claim(
        f"register:net:{throttle.network_of(client_ip)}",
        settings.register_window_seconds,
        settings.register_max_per_network,
    )
    if not attempt.allowed:
        raise TooManyAttempts(
            "Too many registrations from this network; try again later.", retry_after=attempt.retry_after
        )
    check_new_password(data.password, phone=data.phone, nickname=data.nickname)
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


async def _check_password_throttled(
    session: AsyncSession, phone: str, password: str, *, client_ip: str
) -> User | None:
    """The active user whose phone and password these are, None when they are wrong; every check is
    throttled by the login rule (app.users.throttle), whether it is a login or a password change."""
    attempt = await throttle.admit_login(phone, client_ip)
    if isinstance(attempt, throttle.LoginRefused):
        raise TooManyAttempts("Too many failed logins; try again later.", retry_after=attempt.retry_after)
    try:
        user = await repository.get_by_phone(session, phone)
        ok = await security.verify_password(password, user.password_hash if user else None)
    except BaseException:
        # Not a wrong password (the database is unreachable, the request was cancelled): the attempt must
        # not count, or an outage would lock out everyone who tried to log in during it.
        await throttle.login_abandoned(attempt)
        raise
    if not ok or user is None or not user.is_active:
        await throttle.login_failed(attempt)
        return None
    await throttle.login_succeeded(attempt)
    return user


async def login(session: AsyncSession, phone: str, password: str, *, client_ip: str) -> TokenPair:
    user = await _check_password_throttled(session, phone, password, client_ip=client_ip)
    if user is None:
        raise InvalidCredentials("Wrong phone number or password.")
    return await _issue_tokens(session, user, family_id=secrets.token_hex(16))


async def _issue_tokens(session: AsyncSession, user: User, *, family_id: str) -> TokenPair:
    settings = get_settings()
    access, expires_in = security.create_access_token(user.id, user.role, token_version=user.token_version)
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
    """End a login: its refresh tokens are revoked and the user's access tokens stop working (other devices
    get a new access token with their own refresh token)."""
    stored = await repository.get_refresh_by_hash(session, security.hash_refresh_token(refresh_token))
    if stored is not None:
        await repository.revoke_family(session, stored.family_id)
        user = await repository.get(session, stored.user_id)
        if user is not None:
            await revocation.revoke_tokens(session, user)


async def logout_everywhere(session: AsyncSession, user: User) -> None:
    """End every login of the user: all refresh tokens revoked, all access tokens refused."""
    await repository.revoke_all_refresh_tokens(session, user.id)
    await revocation.revoke_tokens(session, user)


async def change_password(
    session: AsyncSession, user: User, data: PasswordChange, *, client_ip: str
) -> TokenPair:
    """Check the current password (throttled like a login), set the new one, end every other login and
    return a fresh one for the caller."""
    if await _check_password_throttled(session, user.phone, data.old_password, client_ip=client_ip) is None:
        raise WrongPassword("The current password is wrong.")
    check_new_password(data.new_password, phone=user.phone, nickname=user.nickname)
    user.password_hash = await security.hash_password(data.new_password)
    await session.flush()
    await logout_everywhere(session, user)
    await audit.record(session, user, "user.password_change", "user", user.id, {"password": "changed"})
    return await _issue_tokens(session, user, family_id=secrets.token_hex(16))


async def create_admin(session: AsyncSession, phone: str, password: str, role: Role = Role.admin) -> User:
    """Create a staff account, or promote and re-password an existing one (idempotent)."""
    check_new_password(password, phone=phone)
    user = await repository.get_by_phone(session, phone)
    password_hash = await security.hash_password(password)
    if user is None:
        user = User(phone=phone, password_hash=password_hash, nickname="管理员", role=role.value)
        session.add(user)
        await session.flush()
        return user
    user.role = role.value
    user.is_active = True
    user.password_hash = password_hash
    await session.flush()
    await logout_everywhere(session, user)
    return user


# User management (admin only)


async def list_users(
    session: AsyncSession, page: PageParams, *, phone: str | None = None, role: Role | None = None
) -> tuple[Sequence[User], int]:
    return await repository.list_users(
        session, phone_prefix=phone, role=role.value if role else None, offset=page.offset, limit=page.size
    )


async def get_or_raise(session: AsyncSession, user_id: int) -> User:
    user = await repository.get(session, user_id)
    if user is None:
        raise UserNotFound("No such user.")
    return user


async def update_user(session: AsyncSession, actor: User, user_id: int, data: UserUpdate) -> User:
    """Change a user's role or active flag. An admin cannot demote or disable themselves, and the last active
    admin stays one (the active admins are locked while this is decided, so two admins demoting each other
    at once cannot both succeed). Every change revokes the user's tokens, is audited and emits user.updated."""
    await get_or_raise(session, user_id)
    # The target and every active admin, locked in id order (one statement: concurrent changes queue,
    # never deadlock), then read again: the checks below see what is committed.
    admins = await repository.lock_user_and_active_admins(session, user_id)
    if actor.id not in admins:  # demoted or disabled by another admin while this request waited
        raise Forbidden("Administrators only.")
    user = await get_or_raise(session, user_id)
    await session.refresh(user, ["role", "is_active", "token_version"])
    before = {"role": user.role, "is_active": user.is_active}
    after = {**before, **data.model_dump(exclude_unset=True, mode="json")}
    if after == before:
        return user
    if user.id == actor.id:
        raise CannotChangeOwnAccount("Administrators cannot change their own role or disable themselves.")
    still_admin = after["role"] == Role.admin and after["is_active"]
    if user.id in admins and not still_admin and not set(admins) - {user.id}:
        raise LastAdmin("At least one active administrator must remain.")
    user.role, user.is_active = after["role"], after["is_active"]
    await session.flush()
    await revocation.revoke_tokens(session, user)
    changed = audit.diff(before, after)
    await audit.record(session, actor, "user.update", "user", user.id, changed)
    await events.emit(
        session,
        "user.updated",
        {
            "user_id": user.id,
            "role": user.role,
            "is_active": user.is_active,
            "changed": sorted(changed),
            "changed_by": actor.id,
            "changed_at": utcnow().isoformat(),
        },
        subject=f"user/{user.id}",
    )
    return user


async def purge_expired(session: AsyncSession) -> int:
    """Worker job: drop refresh tokens expired (or revoked) a day ago, and throttle hits that left every window."""
    day_ago = utcnow() - timedelta(days=1)
    removed = await repository.purge_refresh_tokens(session, day_ago)
    removed += await throttle.purge_older_than(session, throttle.longest_window_seconds())
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
