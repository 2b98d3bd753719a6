from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.users.models import STAFF_ROLES, Address, RefreshToken, User


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def auth_state(session: AsyncSession, user_id: int) -> tuple[str, int, bool] | None:
    """(role, token version, active) of a user, None when there is none. On MariaDB through the lean pool
    (one indexed read in autocommit, no session checkout): checkout authenticates with this."""
    from app.kit import leandb

    pool = leandb.get_pool()
    if pool is not None:
        async with pool.cursor() as cur:
            await cur.execute("SELECT role, token_version, is_active FROM users WHERE id = %s", (user_id,))
            row = await cur.fetchone()
        return None if row is None else (str(row[0]), int(row[1]), bool(row[2]))
    row = (
        await session.execute(select(User.role, User.token_version, User.is_active).where(User.id == user_id))
    ).one_or_none()
    return None if row is None else (str(row[0]), int(row[1]), bool(row[2]))


async def bump_token_version(session: AsyncSession, user_id: int) -> int:
    """Raise a user's token version by one (an atomic UPDATE); the new version."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(select(User.token_version).where(User.id == user_id))).scalar_one()


async def get_by_phone(session: AsyncSession, phone: str) -> User | None:
    return (await session.execute(select(User).where(User.phone == phone))).scalar_one_or_none()


async def _sqlite_write_lock(session: AsyncSession, user_id: int) -> bool:
    """On SQLite, take the database's one write lock with a write that changes nothing (True); elsewhere do
    nothing (False). SQLite has no row locks and ignores FOR UPDATE, and its driver begins a transaction only
    at the first write: after this, the reads see everything committed before, and other writers wait."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version)
        .execution_options(synchronize_session=False)
    )
    return True


async def lock(session: AsyncSession, user_id: int) -> None:
    """Serialise changes to one user's addresses and orders (exactly one default address, the address cap,
    the unpaid-order limits) under concurrency: the user's row locked until the transaction ends (on SQLite,
    the database's write lock)."""
    if not await _sqlite_write_lock(session, user_id):
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def lock_and_auth_state(session: AsyncSession, user_id: int) -> tuple[str, int, bool] | None:
    """`lock`, reading the locked row's (role, token version, active) in the same statement; None when there
    is no such user. Under the lock the state is the committed one: a revocation that committed is seen."""
    await _sqlite_write_lock(session, user_id)
    row = (
        await session.execute(
            select(User.role, User.token_version, User.is_active).where(User.id == user_id).with_for_update()
        )
    ).one_or_none()
    return None if row is None else (str(row[0]), int(row[1]), bool(row[2]))


async def lock_user_and_active_admins(session: AsyncSession, user_id: int) -> list[int]:
    """Lock a user's row and every active admin's, in id order; the ids of the active admins."""
    await _sqlite_write_lock(session, user_id)  # SQLite: the read below sees what the last writer committed
    rows = await session.execute(
        select(User.id, User.role, User.is_active)
        .where(or_(User.id == user_id, (User.role == "admin") & User.is_active.is_(True)))
        .order_by(User.id)
        .with_for_update()
    )
    return [row.id for row in rows if row.role == "admin" and row.is_active]


async def list_users(
    session: AsyncSession, *, phone_prefix: str | None, role: str | None, offset: int, limit: int
) -> tuple[Sequence[User], int]:
    conditions = []
    if phone_prefix:
        conditions.append(User.phone.startswith(phone_prefix, autoescape=True))
    if role:
        conditions.append(User.role == role)
    total = (await session.execute(select(func.count()).select_from(User).where(*conditions))).scalar_one()
    rows = await session.execute(
        select(User).where(*conditions).order_by(User.id.desc()).offset(offset).limit(limit)
    )
    return rows.scalars().all(), int(total)


async def get_refresh_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    ).scalar_one_or_none()


async def mark_refresh_used(session: AsyncSession, token_id: int) -> bool:
    """Claim a refresh token for rotation; False when someone already used or revoked it."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


async def revoke_all_refresh_tokens(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def purge_refresh_tokens(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(RefreshToken).where(or_(RefreshToken.expires_at < before, RefreshToken.revoked_at < before))
    )
    return result.rowcount or 0


async def list_addresses(session: AsyncSession, user_id: int) -> Sequence[Address]:
    return (
        (
            await session.execute(
                select(Address)
                .where(Address.user_id == user_id)
                .order_by(Address.is_default.desc(), Address.id.desc())
            )
        )
        .scalars()
        .all()
    )


async def get_address(session: AsyncSession, user_id: int, address_id: int) -> Address | None:
    return (
        await session.execute(select(Address).where(Address.id == address_id, Address.user_id == user_id))
    ).scalar_one_or_none()


async def clear_default(session: AsyncSession, user_id: int, except_id: int | None = None) -> None:
    stmt = update(Address).where(Address.user_id == user_id, Address.is_default.is_(True))
    if except_id is not None:
        stmt = stmt.where(Address.id != except_id)
    await session.execute(stmt.values(is_default=False))


async def newest_address(session: AsyncSession, user_id: int) -> Address | None:
    return (
        await session.execute(
            select(Address).where(Address.user_id == user_id).order_by(Address.id.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def count_addresses(session: AsyncSession, user_id: int) -> int:
    return (
        await session.execute(select(func.count()).select_from(Address).where(Address.user_id == user_id))
    ).scalar_one()


async def active_staff_ids(session: AsyncSession) -> list[int]:
    stmt = (
        select(User.id)
        .where(User.role.in_([r.value for r in STAFF_ROLES]), User.is_active.is_(True))
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())
