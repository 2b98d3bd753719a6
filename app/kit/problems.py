"""problem+json rendering and the exception handlers that use it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError
from app.kit.context import request_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("not_authenticated", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_error", "Validation error"),
    429: ("too_many_requests", "Too many requests"),
}


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://daoxiang.example/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def app_error_response(exc: AppError) -> JSONResponse:
    return problem_response(
        exc.status_code, exc.code, exc.title, exc.detail, exc.headers, **_jsonable(exc.extra)
    )


async def app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(exc)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {"field": ".".join(loc), "loc": loc, "message": err.get("msg", ""), "type": err.get("type", "")}
        )
    return problem_response(
        422, "validation_error", "Validation error", "The request is not valid; see errors.", errors=errors
    )


async def http_exception_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # Our code raises AppError, never HTTPException: a 400 here is the framework failing to parse the
        # body (not JSON, not UTF-8, broken multipart). That is bad input like any other: 422 validation_error.
        return problem_response(
            422,
            "validation_error",
            "Validation error",
            "The request is not valid; see errors.",
            errors=[
                {
                    "field": "body",
                    "loc": ["body"],
                    "message": "The body could not be parsed.",
                    "type": "body_parse",
                }
            ],
        )
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource."
    if exc.status_code == 405:
        detail = "This method is not allowed here."
    return problem_response(exc.status_code, code, title, detail, dict(exc.headers or {}))


def internal_error_response() -> JSONResponse:
    """A bug's answer (app.kit.middleware.ErrorBoundary logs it)."""
    return problem_response(
        500, "internal_error", "Internal server error", "Something went wrong on our side."
    )


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    # No handler for Exception: Starlette would re-raise after it (a second log, a dropped keep-alive
    # connection). app.kit.middleware.ErrorBoundary answers what escapes.
