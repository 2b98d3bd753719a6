from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.users import service
from app.users.dependencies import AdminUser, ClientIP, CurrentUser
from app.users.errors import (
    AddressNotFound,
    CannotChangeOwnAccount,
    InvalidCredentials,
    InvalidRefreshToken,
    LastAdmin,
    PhoneTaken,
    TooManyAddresses,
    TooManyAttempts,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from app.users.models import Role
from app.users.schemas import (
    AddressCreate,
    AddressRead,
    AddressUpdate,
    AdminUserRead,
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter()
AUTH = ["auth"]
USERS = ["users"]


@router.post(
    "/api/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    tags=USERS,
    summary="Register a customer account with a phone number",
    responses=problem_responses(PhoneTaken, WeakPassword, TooManyAttempts),
    operation_id="registerUser",
)
async def register(data: UserCreate, session: SessionDep, ip: ClientIP) -> UserRead:
    user = await service.register(session, data, client_ip=ip)
    return UserRead.model_validate(user)


@router.post(
    "/api/auth/login",
    response_model=TokenPair,
    tags=AUTH,
    summary="Log in with phone and password",
    responses=problem_responses(InvalidCredentials, TooManyAttempts),
)
async def login(data: LoginRequest, session: SessionDep, ip: ClientIP) -> TokenPair:
    return await service.login(session, data.phone, data.password, client_ip=ip)


@router.post(
    "/api/auth/token",
    response_model=TokenPair,
    tags=AUTH,
    summary="Log in as an OAuth2 password form (username = phone), for the /docs Authorize button",
    responses=problem_responses(InvalidCredentials, TooManyAttempts),
    operation_id="issueToken",
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, ip: ClientIP
) -> TokenPair:
    try:  # the same checks as the JSON login: the password exactly as typed, lengths bounded
        data = LoginRequest(phone=form.username, password=form.password)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**err, "loc": ("body", "username" if err["loc"][0] == "phone" else "password")}
                for err in exc.errors()
            ]
        ) from None
    return await service.login(session, data.phone, data.password, client_ip=ip)


@router.post(
    "/api/auth/refresh",
    response_model=TokenPair,
    tags=AUTH,
    summary="Exchange a refresh token for a new pair (the old one stops working)",
    responses=problem_responses(InvalidRefreshToken),
)
async def refresh(data: RefreshRequest, session: SessionDep) -> TokenPair:
    return await service.refresh(session, data.refresh_token)


@router.post(
    "/api/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=AUTH,
    summary="Revoke a refresh token (and the tokens rotated from the same login)",
)
async def logout(data: RefreshRequest, session: SessionDep) -> Response:
    await service.logout(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/auth/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=AUTH,
    summary="Log out everywhere: every refresh token of mine is revoked and every access token stops working",
    responses=problem_responses(NotAuthenticated, validation=False),
)
async def logout_all(user: CurrentUser, session: SessionDep) -> Response:
    await service.logout_everywhere(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/users/me/password",
    response_model=TokenPair,
    tags=USERS,
    summary="Change my password; every other login ends, and a new token pair is returned for this one",
    responses=problem_responses(NotAuthenticated, WrongPassword, WeakPassword, TooManyAttempts),
)
async def change_password(
    data: PasswordChange, user: CurrentUser, session: SessionDep, ip: ClientIP
) -> TokenPair:
    return await service.change_password(session, user, data, client_ip=ip)


@router.get(
    "/api/users/me",
    response_model=UserRead,
    tags=USERS,
    summary="The calling user",
    responses=problem_responses(NotAuthenticated, validation=False),
    operation_id="getMe",
)
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.get(
    "/api/users/me/addresses",
    response_model=list[AddressRead],
    tags=USERS,
    summary="My shipping addresses, the default first",
    responses=problem_responses(NotAuthenticated, validation=False),
)
async def list_addresses(user: CurrentUser, session: SessionDep) -> list[AddressRead]:
    return [AddressRead.model_validate(a) for a in await service.list_addresses(session, user)]


@router.post(
    "/api/users/me/addresses",
    status_code=status.HTTP_201_CREATED,
    response_model=AddressRead,
    tags=USERS,
    summary="Add a shipping address (the first one becomes the default; at most MAX_ADDRESSES_PER_CUSTOMER)",
    responses=problem_responses(NotAuthenticated, TooManyAddresses),
)
async def create_address(data: AddressCreate, user: CurrentUser, session: SessionDep) -> AddressRead:
    return AddressRead.model_validate(await service.create_address(session, user, data))


@router.patch(
    "/api/users/me/addresses/{address_id}",
    response_model=AddressRead,
    tags=USERS,
    summary="Change an address or make it the default",
    responses=problem_responses(NotAuthenticated, AddressNotFound),
)
async def update_address(
    address_id: IdPath, data: AddressUpdate, user: CurrentUser, session: SessionDep
) -> AddressRead:
    return AddressRead.model_validate(await service.update_address(session, user, address_id, data))


@router.delete(
    "/api/users/me/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=USERS,
    summary="Delete an address (another becomes the default if it was)",
    responses=problem_responses(NotAuthenticated, AddressNotFound),
)
async def delete_address(address_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await service.delete_address(session, user, address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# User management: administrators only (merchants are shop staff, not account managers).

ADMIN_USERS = ["users (admin)"]


@router.get(
    "/api/admin/users",
    response_model=Page[AdminUserRead],
    tags=ADMIN_USERS,
    summary="Accounts, newest first; filter by phone prefix and role (admin only)",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_users(
    admin: AdminUser,
    session: SessionDep,
    page: PageParamsDep,
    phone: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,11}$", description="phone number or its start")
    ] = None,
    role: Role | None = None,
) -> Page[AdminUserRead]:
    rows, total = await service.list_users(session, page, phone=phone, role=role)
    return Page(
        items=[AdminUserRead.model_validate(u) for u in rows], total=total, page=page.page, size=page.size
    )


@router.patch(
    "/api/admin/users/{user_id}",
    response_model=AdminUserRead,
    tags=ADMIN_USERS,
    summary="Change an account's role or disable it (admin only); its tokens stop working at once",
    responses=problem_responses(NotAuthenticated, Forbidden, UserNotFound, CannotChangeOwnAccount, LastAdmin),
)
async def update_user(
    user_id: IdPath, data: UserUpdate, admin: AdminUser, session: SessionDep
) -> AdminUserRead:
    return AdminUserRead.model_validate(await service.update_user(session, admin, user_id, data))


__all__ = ["router", "Forbidden"]
