"""Who is looking at a page. `get_page_user` reads the session cookie; the required variants make
anonymous visitors log in first (a redirect to /login) and show customers a 403 page in the back office."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.storefront import session as page_session
from app.users import service as users_service
from app.users.models import STAFF_ROLES, Role, User


class LoginRequired(NotAuthenticated):
    code = "login_required"
    title = "Login required"


class StaffOnly(Forbidden):
    code = "forbidden"
    title = "Shop staff only"


@dataclass(frozen=True)
class Viewer:
    """What templates know about the signed-in user: a plain copy, still readable after a rollback
    (an error page renders after the request's transaction was rolled back and its objects expired)."""

    id: int
    phone: str
    nickname: str
    role: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


async def get_page_user(request: Request, session: SessionDep) -> User | None:
    token = page_session.session_token(request)
    user = await users_service.user_for_refresh_token(session, token) if token else None
    request.state.page_user = (
        Viewer(id=user.id, phone=user.phone, nickname=user.nickname, role=user.role) if user else None
    )
    return user


PageUser = Annotated[User | None, Depends(get_page_user)]


async def require_page_user(user: PageUser) -> User:
    if user is None:
        raise LoginRequired("Please log in.")
    return user


SignedInPageUser = Annotated[User, Depends(require_page_user)]


async def require_staff_page_user(user: SignedInPageUser) -> User:
    if not user.is_staff:
        raise StaffOnly("Shop staff only.")
    return user


StaffPageUser = Annotated[User, Depends(require_staff_page_user)]


def staff_pages_router() -> APIRouter:
    """A router for back-office pages: under /admin, left out of the API docs, shop staff only."""
    return APIRouter(
        prefix="/admin",
        tags=["pages"],
        include_in_schema=False,
        dependencies=[Depends(require_staff_page_user)],
    )


class AdminOnly(Forbidden):
    code = "forbidden"
    title = "Administrators only"


async def require_admin_page_user(user: StaffPageUser) -> User:
    if user.role != Role.admin:
        raise AdminOnly("Administrators only.")
    return user


AdminPageUser = Annotated[User, Depends(require_admin_page_user)]


async def load_cart_count(request: Request, session: SessionDep, user: PageUser) -> None:
    """For the cart badge in the header: the number of units in the signed-in customer's cart."""
    from app.cart import service as cart_service

    request.state.cart_count = None
    if user is not None:
        cart = await cart_service.get_cart(session, user)
        request.state.cart_count = sum(i.quantity for i in cart.items) or None
