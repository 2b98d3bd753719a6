"""Log in, register and log out as pages, through app.users.service (same rules, throttles and errors
as the API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep
from app.storefront import forms
from app.storefront import session as page_session
from app.storefront.dependencies import PageUser
from app.storefront.forms import FormStr
from app.storefront.templating import render
from app.users import service as users_service
from app.users.dependencies import ClientIP
from app.users.errors import InvalidCredentials, PhoneTaken, TooManyAttempts, WeakPassword
from app.users.schemas import LoginRequest, UserCreate

router = APIRouter(tags=["pages"], include_in_schema=False)


def _page(request: Request, template: str, context: dict, status_code: int = 200) -> Response:
    return render(request, template, context, status_code=status_code, csp=True)


@router.get("/login", summary="Login page")
async def login_page(request: Request, user: PageUser, next: str = "/") -> Response:
    target = page_session.safe_next(next)
    if user is not None:
        return RedirectResponse(target, status_code=303)
    return _page(request, "auth/login.html", {"next": target, "phone": "", "error": None})


@router.post("/login", summary="Log in from the login page")
async def login_submit(
    request: Request,
    session: SessionDep,
    ip: ClientIP,
    phone: FormStr = "",
    password: FormStr = "",
    next: FormStr = "/",
) -> Response:
    target = page_session.safe_next(next)
    data, errors = forms.parse(LoginRequest, {"phone": phone.strip(), "password": password})
    context = {"next": target, "phone": phone.strip()[:20]}
    if data is None:
        return _page(request, "auth/login.html", {**context, "error": "请输入手机号和密码"}, 422)
    try:
        tokens = await users_service.login(session, data.phone, data.password, client_ip=ip)
    except InvalidCredentials:
        return _page(request, "auth/login.html", {**context, "error": "手机号或密码错误"}, 422)
    except TooManyAttempts as exc:
        return _page(
            request,
            "auth/login.html",
            {**context, "error": f"登录失败次数太多，请 {exc.retry_after} 秒后再试"},
            429,
        )
    response = RedirectResponse(target, status_code=303)
    page_session.start(request, response, tokens)
    return response


@router.get("/register", summary="Registration page")
async def register_page(request: Request, user: PageUser, next: str = "/") -> Response:
    target = page_session.safe_next(next)
    if user is not None:
        return RedirectResponse(target, status_code=303)
    return _page(request, "auth/register.html", {"next": target, "values": {}, "errors": {}})


@router.post("/register", summary="Register from the registration page")
async def register_submit(
    request: Request,
    session: SessionDep,
    ip: ClientIP,
    phone: FormStr = "",
    password: FormStr = "",
    password_confirm: FormStr = "",
    nickname: FormStr = "",
    next: FormStr = "/",
) -> Response:
    target = page_session.safe_next(next)
    values = {"phone": phone.strip()[:20], "nickname": nickname.strip()[:32]}
    data, errors = forms.parse(
        UserCreate, {"phone": phone.strip(), "password": password, "nickname": nickname}
    )
    if password != password_confirm and "password" not in errors:
        errors["password_confirm"] = "两次输入的密码不一致"
    if data is None or errors:
        return _page(request, "auth/register.html", {"next": target, "values": values, "errors": errors}, 422)
    try:
        user = await users_service.register(session, data, client_ip=ip)
    except PhoneTaken:
        errors = {"phone": "这个手机号已经注册过了，请直接登录"}
        return _page(request, "auth/register.html", {"next": target, "values": values, "errors": errors}, 409)
    except WeakPassword as exc:
        errors = {"password": exc.message}
        return _page(request, "auth/register.html", {"next": target, "values": values, "errors": errors}, 422)
    except TooManyAttempts:
        errors = {"__all__": "注册太频繁，请稍后再试"}
        return _page(request, "auth/register.html", {"next": target, "values": values, "errors": errors}, 429)
    tokens = await users_service.issue_tokens(session, user)
    response = RedirectResponse(target, status_code=303)
    page_session.start(request, response, tokens)
    return response


@router.post("/logout", summary="Log out (revokes the page session)")
async def logout(request: Request, session: SessionDep) -> Response:
    token = page_session.session_token(request)
    if token:
        await users_service.logout(session, token)
    response = RedirectResponse("/", status_code=303)
    page_session.end(request, response)
    return response
