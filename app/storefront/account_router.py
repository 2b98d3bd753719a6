"""My account: shipping addresses (app.users.service, the same rules as /api/users/me/addresses), password
and sessions (the same calls as /api/users/me/password and /api/auth/logout-all) and messages
(app.notifications.service)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep
from app.kit.pagination import PageParams, page_count
from app.kit.params import IdPath
from app.notifications import service as notifications_service
from app.storefront import forms
from app.storefront import session as page_session
from app.storefront.dependencies import SignedInPageUser
from app.storefront.forms import FormStr
from app.storefront.templating import render
from app.users import service as users_service
from app.users.dependencies import ClientIP
from app.users.errors import TooManyAddresses, TooManyAttempts, WeakPassword, WrongPassword
from app.users.schemas import AddressCreate, AddressUpdate, PasswordChange

router = APIRouter(prefix="/account", tags=["pages"], include_in_schema=False)
notifications_router = APIRouter(tags=["pages"], include_in_schema=False)

ADDRESS_FIELDS = ("recipient", "phone", "province", "city", "district", "detail")
ADDRESS_CHOICES = frozenset({"province"})
NEEDS_CORRECTION = "无法识别原来填写的省份，请从列表中重新选择"


def address_form_values(
    recipient: str, phone: str, province: str, city: str, district: str, detail: str
) -> dict[str, str]:
    return {
        "recipient": recipient,
        "phone": phone.strip(),
        "province": province,
        "city": city,
        "district": district,
        "detail": detail,
    }


async def _list_page(
    request: Request,
    session: SessionDep,
    user,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    flash: str | None = None,
    status_code: int = 200,
) -> Response:
    addresses = await users_service.list_addresses(session, user)
    return render(
        request,
        "storefront/addresses.html",
        {
            "addresses": addresses,
            "values": values or {},
            "errors": errors or {},
            "flash": flash,
            "next": page_session.safe_next(request.query_params.get("next"), ""),
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/addresses", summary="My shipping addresses")
async def addresses(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    saved = request.query_params.get("saved")
    return await _list_page(request, session, user, flash="地址已保存" if saved else None)


@router.post("/addresses", summary="Add a shipping address")
async def add_address(
    request: Request,
    session: SessionDep,
    user: SignedInPageUser,
    recipient: FormStr = "",
    phone: FormStr = "",
    province: FormStr = "",
    city: FormStr = "",
    district: FormStr = "",
    detail: FormStr = "",
    is_default: FormStr = "",
    next: FormStr = "",
) -> Response:
    values = address_form_values(recipient, phone, province, city, district, detail)
    data, errors = forms.parse(
        AddressCreate, {**values, "is_default": bool(is_default)}, choices=ADDRESS_CHOICES
    )
    if data is None:
        return await _list_page(request, session, user, values=values, errors=errors, status_code=422)
    try:
        address = await users_service.create_address(session, user, data)
    except TooManyAddresses as exc:
        errors = {"__all__": f"最多保存 {exc.extra['limit']} 个收货地址，请先删除不用的地址。"}
        return await _list_page(request, session, user, values=values, errors=errors, status_code=409)
    target = page_session.safe_next(next, "")
    if target:
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}address_id={address.id}", status_code=303)
    return RedirectResponse("/account/addresses?saved=1", status_code=303)


@router.get("/addresses/{address_id}/edit", summary="Edit an address")
async def edit_address_page(
    request: Request, address_id: IdPath, session: SessionDep, user: SignedInPageUser
) -> Response:
    address = await users_service.get_address_or_raise(session, user, address_id)
    values = {field: getattr(address, field) for field in ADDRESS_FIELDS}
    errors = {"province": NEEDS_CORRECTION} if address.needs_correction else {}
    return render(
        request,
        "storefront/address_edit.html",
        {"address": address, "values": values, "errors": errors},
        csp=True,
    )


@router.post("/addresses/{address_id}", summary="Save an edited address")
async def edit_address(
    request: Request,
    address_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    recipient: FormStr = "",
    phone: FormStr = "",
    province: FormStr = "",
    city: FormStr = "",
    district: FormStr = "",
    detail: FormStr = "",
    is_default: FormStr = "",
) -> Response:
    address = await users_service.get_address_or_raise(session, user, address_id)
    values = address_form_values(recipient, phone, province, city, district, detail)
    payload: dict = dict(values)
    if is_default:
        payload["is_default"] = True
    data, errors = forms.parse(AddressUpdate, payload, choices=ADDRESS_CHOICES)
    if data is None:
        return render(
            request,
            "storefront/address_edit.html",
            {"address": address, "values": values, "errors": errors},
            status_code=422,
            csp=True,
        )
    await users_service.update_address(session, user, address_id, data)
    return RedirectResponse("/account/addresses?saved=1", status_code=303)


@router.post("/addresses/{address_id}/default", summary="Make an address the default")
async def make_default(address_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    await users_service.update_address(session, user, address_id, AddressUpdate(is_default=True))
    return RedirectResponse("/account/addresses?saved=1", status_code=303)


@router.post("/addresses/{address_id}/delete", summary="Delete an address")
async def delete_address(address_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    await users_service.delete_address(session, user, address_id)
    return RedirectResponse("/account/addresses", status_code=303)


# ------------------------------------------------------------------------------------------ password, sessions

SECURITY_NOTICES = {"changed": "密码已修改，其他设备上的登录已全部退出"}


def _security_page(request: Request, errors: dict | None = None, status_code: int = 200) -> Response:
    flash = SECURITY_NOTICES.get(request.query_params.get("done", ""))
    return render(
        request, "storefront/security.html", {"errors": errors or {}, "flash": flash}, status_code=status_code,
        csp=True,
    )  # fmt: skip


@router.get("/security", summary="My password and logins")
async def security_page(request: Request, user: SignedInPageUser) -> Response:
    return _security_page(request)


@router.post("/password", summary="Change my password")
async def change_password(
    request: Request,
    session: SessionDep,
    user: SignedInPageUser,
    ip: ClientIP,
    old_password: FormStr = "",
    new_password: FormStr = "",
    new_password_confirm: FormStr = "",
) -> Response:
    data, errors = forms.parse(PasswordChange, {"old_password": old_password, "new_password": new_password})
    if new_password != new_password_confirm and "new_password" not in errors:
        errors["new_password_confirm"] = "两次输入的新密码不一致"
    if data is None or errors:
        return _security_page(request, errors, 422)
    try:
        tokens = await users_service.change_password(session, user, data, client_ip=ip)
    except WrongPassword:
        return _security_page(request, {"old_password": "当前密码不正确"}, 422)
    except WeakPassword as exc:
        return _security_page(request, {"new_password": exc.message}, 422)
    except TooManyAttempts as exc:
        return _security_page(request, {"__all__": f"尝试次数太多，请 {exc.retry_after} 秒后再试"}, 429)
    response = RedirectResponse("/account/security?done=changed", status_code=303)
    page_session.start(request, response, tokens)
    return response


@router.post("/logout-all", summary="Log out on every device")
async def logout_everywhere(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    await users_service.logout_everywhere(session, user)
    response = RedirectResponse("/login", status_code=303)
    page_session.end(request, response)
    return response


# ------------------------------------------------------------------------------------------------ messages

NOTIFICATIONS_PER_PAGE = 20


@notifications_router.get("/notifications", summary="My notifications")
async def notifications(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    page_no = forms.page_number(request.query_params.get("page"))
    unread_only = request.query_params.get("unread") == "1"
    rows, total = await notifications_service.list_mine(
        session, user, PageParams(page=page_no, size=NOTIFICATIONS_PER_PAGE), unread_only=unread_only
    )
    return render(
        request,
        "storefront/notifications.html",
        {
            "notifications": rows,
            "unread_only": unread_only,
            "page": page_no,
            "pages": page_count(total, NOTIFICATIONS_PER_PAGE),
        },
        csp=True,
    )


@notifications_router.post("/notifications/{notification_id}/read", summary="Open a notification")
async def open_notification(notification_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    notification = await notifications_service.mark_read(session, user, notification_id)
    return RedirectResponse(page_session.safe_next(notification.link, "/notifications"), status_code=303)


@notifications_router.post("/notifications/read-all", summary="Mark all my notifications read")
async def read_all(session: SessionDep, user: SignedInPageUser) -> Response:
    await notifications_service.mark_all_read(session, user)
    return RedirectResponse("/notifications", status_code=303)
