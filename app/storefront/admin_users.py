"""Back office: accounts and roles, administrators only (merchants get the 403 page and no menu entry), on
app.users.service — the same calls as /api/admin/users."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep
from app.kit.pagination import PageParams, page_count
from app.kit.params import IdPath
from app.storefront.dependencies import AdminPageUser, require_admin_page_user
from app.storefront.forms import page_number
from app.storefront.templating import ADMIN_ONLY_SECTIONS, ADMIN_SECTIONS, render
from app.users import service as users_service
from app.users.errors import CannotChangeOwnAccount, LastAdmin
from app.users.models import Role
from app.users.schemas import UserUpdate

router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_admin_page_user)]
)

ADMIN_SECTIONS.append(("users", "/admin/users", "用户"))
ADMIN_ONLY_SECTIONS.add("users")

USERS_PER_PAGE = 20
ROLE_LABELS = {"customer": "顾客", "merchant": "商家员工", "admin": "管理员"}
NOTICES = {"role": "角色已修改，该用户需要重新登录", "disabled": "账户已停用", "enabled": "账户已启用"}
ERRORS = {
    "self": "不能修改自己的角色，也不能停用自己。",
    "last_admin": "至少要保留一位启用中的管理员。",
    "role": "请选择正确的角色。",
}
_PHONE_FILTER = re.compile(r"[0-9]{1,11}")


@router.get("/users", summary="Back office: accounts")
async def users(request: Request, session: SessionDep, admin: AdminPageUser) -> Response:
    params = request.query_params
    phone = (params.get("phone") or "").strip()
    phone = phone if _PHONE_FILTER.fullmatch(phone) else ""
    role = params.get("role", "")
    role = role if role in ROLE_LABELS else ""
    page_no = page_number(params.get("page"))
    rows, total = await users_service.list_users(
        session,
        PageParams(page=page_no, size=USERS_PER_PAGE),
        phone=phone or None,
        role=Role(role) if role else None,
    )
    filters = {k: v for k, v in {"phone": phone, "role": role}.items() if v}
    return render(
        request,
        "admin/users.html",
        {
            "section": "users",
            "rows": rows,
            "total": total,
            "filters": filters,
            "role_labels": ROLE_LABELS,
            "page": page_no,
            "pages": page_count(total, USERS_PER_PAGE),
            "page_url": lambda n: "/admin/users?" + urlencode({**filters, "page": n}),
        },
        csp=True,
    )


@router.get("/users/{user_id}", summary="Back office: one account")
async def user_detail(
    request: Request, user_id: IdPath, session: SessionDep, admin: AdminPageUser
) -> Response:
    account = await users_service.get_or_raise(session, user_id)
    return render(
        request,
        "admin/user_detail.html",
        {
            "section": "users",
            "account": account,
            "is_self": account.id == admin.id,
            "role_labels": ROLE_LABELS,
            "flash": NOTICES.get(request.query_params.get("done", "")),
            "error": ERRORS.get(request.query_params.get("error", "")),
        },
        csp=True,
    )


async def _update(
    session: SessionDep, admin: AdminPageUser, user_id: int, data: UserUpdate, done: str
) -> Response:
    target = f"/admin/users/{user_id}"
    try:
        await users_service.update_user(session, admin, user_id, data)
    except CannotChangeOwnAccount:
        return RedirectResponse(f"{target}?error=self", status_code=303)
    except LastAdmin:
        return RedirectResponse(f"{target}?error=last_admin", status_code=303)
    return RedirectResponse(f"{target}?done={done}", status_code=303)


@router.post("/users/{user_id}/role", summary="Back office: change an account's role")
async def change_role(
    user_id: IdPath, session: SessionDep, admin: AdminPageUser, role: Annotated[str, Form()] = ""
) -> Response:
    if role not in ROLE_LABELS:
        await users_service.get_or_raise(session, user_id)
        return RedirectResponse(f"/admin/users/{user_id}?error=role", status_code=303)
    return await _update(session, admin, user_id, UserUpdate(role=role), "role")


@router.post("/users/{user_id}/disable", summary="Back office: disable an account")
async def disable(user_id: IdPath, session: SessionDep, admin: AdminPageUser) -> Response:
    return await _update(session, admin, user_id, UserUpdate(is_active=False), "disabled")


@router.post("/users/{user_id}/enable", summary="Back office: enable an account again")
async def enable(user_id: IdPath, session: SessionDep, admin: AdminPageUser) -> Response:
    return await _update(session, admin, user_id, UserUpdate(is_active=True), "enabled")
