"""One error tree, rendered once as RFC 9457 problem details (see app.kit.problems)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # Most errors undo the request's work. A few are outcomes whose record must survive the error
    # (a reused refresh token revokes its family, then answers 401): those set this.
    commit_session: bool = False

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    title = "Bad request"


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"
    title = "Unprocessable request"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, **extra)
        self.retry_after = retry_after
