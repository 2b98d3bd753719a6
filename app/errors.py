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


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"


class StorageUnavailable(AppError):
    """The disk that keeps uploaded files refused a write (read-only, full): nothing was stored, no row
    points to a missing file."""

    status_code = 507
    code = "storage_unavailable"
    title = "Storage unavailable"

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(detail or "The file could not be stored right now; try again later.", **extra)


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (down, restarting, every connection busy). Nothing was written: the
    request may be repeated once it is back."""

    code = "database_unavailable"
    title = "Database unavailable"
    retry_after = 5

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(
            detail or "The shop cannot reach its database right now; try again shortly.",
            headers={"Retry-After": str(self.retry_after)},
            **extra,
        )


class WriteConflict(ServiceUnavailable):
    """The database rolled this request's transaction back because a concurrent one wrote the same rows first
    (an InnoDB deadlock or lock-wait timeout, or a Galera node's certification conflict at COMMIT). Nothing
    was written: the request may be repeated at once."""

    code = "write_conflict"
    title = "Write conflict"
    retry_after = 1

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(
            detail
            or "Another request changed the same data at the same moment; nothing was changed, try again.",
            headers={"Retry-After": str(self.retry_after)},
            **extra,
        )
