"""Errors on pages are pages (in Chinese); errors under /api/ stay RFC 9457 problem+json.

`install_page_error_handlers(app)` wraps the problem handlers from app.kit.problems: a request for a page
gets HTML, everything else is passed through unchanged.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from app.errors import AppError, NotAuthenticated
from app.kit import problems
from app.kit.guard import PAGE_CSP, PAGE_HEADERS
from app.storefront import messages
from app.storefront import session as page_session

log = logging.getLogger("daoxiang.pages")

API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/static/")

STATUS_TEXT = {
    400: ("请求有误", "提交的内容不正确，请检查后重试。"),
    403: ("无权访问", "您的账户没有权限查看这个页面。"),
    404: ("页面不存在", "您要找的页面不存在，可能已下架或地址有误。"),
    405: ("操作不被允许", "这个页面不支持这种操作。"),
    409: ("操作冲突", "当前状态下不能进行这个操作，请刷新后重试。"),
    413: ("内容过大", "上传的内容太大了。"),
    422: ("请求有误", "提交的内容不正确，请检查后重试。"),
    429: ("操作太频繁", "操作太频繁了，请稍后再试。"),
    500: ("服务器开小差了", "抱歉，系统出了点问题，我们正在处理。请稍后再试。"),
    503: ("服务暂不可用", "系统维护中，请稍后再试。"),
}


def is_page_request(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def error_page(
    request: Request, status: int, message: str | None = None, title: str | None = None
) -> Response:
    from app.storefront.templating import render

    default_title, default_message = STATUS_TEXT.get(status, STATUS_TEXT[500 if status >= 500 else 400])
    title, message = title or default_title, message or default_message
    try:
        return render(
            request,
            "errors/error.html",
            {"status": status, "title": title, "message": message},
            status_code=status,
            csp=True,
        )
    except Exception:  # the error page itself failed: answer in plain HTML rather than not at all
        log.exception("error page failed to render")
        return HTMLResponse(
            f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{title}</title>'
            f'<h1>{title}</h1><p>{message}</p><p><a href="/">返回首页</a></p></html>',
            status_code=status,
            headers={**PAGE_HEADERS, "Content-Security-Policy": PAGE_CSP},
        )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if not is_page_request(request):
        return await problems.app_error_handler(request, exc)
    if isinstance(exc, NotAuthenticated):
        return RedirectResponse(page_session.login_url(request), status_code=303)
    response = error_page(request, exc.status_code, messages.message_for(exc.code))
    response.headers.update(exc.headers)  # Retry-After of a 429 or 503
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not is_page_request(request):
        return await problems.http_exception_handler(request, exc)
    return error_page(request, exc.status_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not is_page_request(request):
        return await problems.validation_error_handler(request, exc)
    # A malformed id or filter in a page address is a page that does not exist; a form that does not parse
    # is a form error, 422 like every other form error on the pages.
    status = 404 if request.method == "GET" else 422
    return error_page(request, status)


async def boundary_response(scope: Scope, _exc: Exception, fault: AppError | None) -> Response:
    """What app.kit.middleware.ErrorBoundary answers (it has logged the error): a page for a page request
    (503 "稍后再试" when the database is unreachable), problem+json otherwise."""
    request = Request(scope)
    if fault is not None:
        return await _app_error(request, fault)
    if not is_page_request(request):
        return problems.internal_error_response()
    return error_page(request, 500)


def install_page_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
