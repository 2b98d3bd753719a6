"""The Jinja2 environment shared by every page, and `render()` that fills in what every page needs."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from app.kit import regions
from app.kit.guard import PAGE_CSP, PAGE_HEADERS
from app.kit.money import format_yuan
from app.kit.time import format_shop_time
from app.storefront import csrf
from app.storefront.labels import CERTIFICATE_LABELS, EVENT_LABELS

APP_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = APP_DIR / "templates"
STATIC_DIR = APP_DIR / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
env = templates.env
env.trim_blocks = True
env.lstrip_blocks = True

# Headers every HTML page gets, the strict Content-Security-Policy included (no inline script/style).
# app.kit.guard adds the same to any HTML answer that was not rendered here.
BASE_HEADERS = PAGE_HEADERS


def yuan(fen: int | None) -> str:
    return "" if fen is None else format_yuan(int(fen))


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Shop time (Beijing) for people; stored times are UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return format_shop_time(value, fmt) if value.tzinfo is not None else value.strftime(fmt)
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


@lru_cache(maxsize=256)
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static(path: str) -> str:
    """URL of a static file with a content hash, so browsers may cache it for a long time."""
    return f"/static/{path}?v={_static_version(path)}"


ORDER_STATUS = {
    "pending_payment": "待付款",
    "deposit_paid": "已付定金",
    "paid": "待发货",
    "shipped": "已发货",
    "completed": "已完成",
    "cancelled": "已取消",
    "refunding": "退款中",
    "refunded": "已退款",
}


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name` or `obj[name]`: templates take service objects, schemas and plain dicts alike."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type)


def certificate_label(kind: str) -> str:
    return CERTIFICATE_LABELS.get(kind, kind)


env.filters["yuan"] = yuan
env.filters["event_label"] = event_label
env.filters["certificate_label"] = certificate_label
env.filters["attr_or"] = attr
env.globals["ORDER_STATUS"] = ORDER_STATUS
# The back office's sections: (key, link, label). Sections append themselves as their pages exist.
ADMIN_SECTIONS: list[tuple[str, str, str]] = [
    ("dashboard", "/admin/", "概览"),
    ("orders", "/admin/orders", "订单"),
    ("products", "/admin/products", "商品"),
    ("trace", "/admin/batches", "溯源"),
    ("producers", "/admin/producers", "生产者"),
]
env.globals["admin_sections"] = ADMIN_SECTIONS
# Sections only administrators see (merchants are not shown links they would get a 403 behind).
ADMIN_ONLY_SECTIONS: set[str] = set()
env.globals["admin_only_sections"] = ADMIN_ONLY_SECTIONS
env.filters["local_time"] = local_time
env.globals["static"] = static
env.globals["SHOP_NAME"] = "稻香"
env.globals["PROVINCES"] = regions.PROVINCES  # the choices of every address form


def csrf_field(request: Request) -> Markup:
    token = csrf.token_for(request)
    return Markup(f'<input type="hidden" name="{csrf.FORM_FIELD}" value="{escape(token)}">')


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    csp: bool = True,
) -> HTMLResponse:
    """Render a page. The context gets `request`, `user` (the page user when a dependency looked it up),
    `csrf_token` and `csrf_field()`; the CSRF cookie is set when the visitor has none yet."""
    ctx: dict[str, Any] = {
        "user": getattr(request.state, "page_user", None),
        "cart_count": getattr(request.state, "cart_count", None),
        "csrf_token": csrf.token_for(request),
        "csrf_field": lambda: csrf_field(request),
        "current_path": request.url.path,
    }
    ctx.update(context or {})
    all_headers = dict(BASE_HEADERS)
    if ctx.get("user") is not None:
        all_headers["Cache-Control"] = "private, no-store"
    # Every page has the policy; `csp` stays for callers that still pass it.
    all_headers["Content-Security-Policy"] = PAGE_CSP
    all_headers.update(headers or {})
    response = templates.TemplateResponse(
        request, template, ctx, status_code=status_code, headers=all_headers
    )
    csrf.ensure_cookie(request, response)
    return response


def csrf_refusal(request: Request) -> HTMLResponse:
    """The page CsrfMiddleware answers when a form's token or origin does not check out."""
    return render(
        request,
        "errors/error.html",
        {
            "status": 403,
            "title": "页面已过期",
            "message": "表单已失效或来源不明，为保护您的账户，本次提交没有生效。请返回上一页刷新后重试。",
        },
        status_code=403,
        csp=True,
    )
