"""Typed dependencies: who is calling, and may they."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.client import client_address
from app.users import repository, revocation
from app.users.models import STAFF_ROLES, Principal, Role, User
from app.users.security import decode_access_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def client_ip(request: Request) -> str:
    """The client address for limits and logs: app.kit.client decides it (kept here for its callers)."""
    return client_address(request)


ClientIP = Annotated[str, Depends(client_ip)]


async def user_from_token(session: SessionDep, token: str | None) -> User | None:
    if not token:
        return None
    claims = decode_access_token(token)
    if claims is None:
        return None
    user = await repository.get(session, claims["uid"])
    if user is None or not user.is_active or user.token_version != claims["ver"]:
        return None
    return user


async def current_user(session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    user = await user_from_token(session, token)
    if user is None:
        raise NotAuthenticated("A valid access token is required.")
    return user


async def principal_from_token(session: AsyncSession, token: str | None) -> Principal | None:
    """Who is calling (id and role of an active user whose token was not revoked), None without a valid
    access token. Reads the cached auth state (app.users.revocation): no database round trip with Redis."""
    claims = decode_access_token(token) if token else None
    if claims is None:
        return None
    state = await revocation.state(session, claims["uid"])
    if state is None or not revocation.accepts(state, claims):
        return None
    return Principal(claims["uid"], state.role)


async def current_principal(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """Like `current_user` for endpoints that need only who is calling: checkout, the hottest write, where
    loading the User through the ORM cost more CPU than placing the order's rows."""
    principal = await principal_from_token(session, token)
    if principal is None:
        raise NotAuthenticated("A valid access token is required.")
    return principal


async def staff_user(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role not in STAFF_ROLES:
        raise Forbidden("Shop staff only.")
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != Role.admin:
        raise Forbidden("Administrators only.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
StaffUser = Annotated[User, Depends(staff_user)]
AdminUser = Annotated[User, Depends(admin_user)]
