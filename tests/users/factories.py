"""Plain factory functions with keyword overrides."""

from __future__ import annotations

import itertools

import httpx

from app.db import session_scope
from app.users import security
from app.users.models import Address, Role, User

DEFAULT_PASSWORD = "correct-horse-2026"
_phones = itertools.count(13_100_000_000)
# Hashing costs ~50 ms by design; factories reuse one hash of the default password.
_default_hash: str | None = None


def next_phone() -> str:
    return str(next(_phones))


async def create_user(
    *,
    phone: str | None = None,
    password: str = DEFAULT_PASSWORD,
    role: Role = Role.customer,
    nickname: str = "测试用户",
    is_active: bool = True,
) -> User:
    global _default_hash
    if password == DEFAULT_PASSWORD:
        if _default_hash is None:
            _default_hash = await security.hash_password(DEFAULT_PASSWORD)
        password_hash = _default_hash
    else:
        password_hash = await security.hash_password(password)
    async with session_scope() as session:
        user = User(
            phone=phone or next_phone(),
            password_hash=password_hash,
            nickname=nickname,
            role=role.value,
            is_active=is_active,
        )
        session.add(user)
        await session.flush()
    return user


def token_for(user: User) -> str:
    return security.create_access_token(user.id, user.role, token_version=user.token_version)[0]


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user)}"}


async def create_address(user: User, **overrides: object) -> Address:
    fields: dict[str, object] = dict(
        recipient="李四",
        phone="13912345678",
        province="黑龙江省",
        city="哈尔滨市",
        district="五常市",
        detail="民乐朝鲜族乡 1 号",
        is_default=True,
    )
    fields.update(overrides)
    async with session_scope() as session:
        address = Address(user_id=user.id, **fields)
        session.add(address)
    return address


async def login(client: httpx.AsyncClient, phone: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"phone": phone, "password": password})
