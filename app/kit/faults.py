"""Faults of the infrastructure, told apart from bugs.

A database or Redis that cannot be reached is an expected fault: the request is answered 503 with a
`Retry-After` (clients and gateways retry it, monitoring tells it from a bug) and logged in one line. Anything
else that escapes a request is a bug: 500, logged once with its traceback (app.kit.middleware.ErrorBoundary).
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from app.errors import AppError, DatabaseUnavailable, ServiceUnavailable, WriteConflict

# MySQL/MariaDB error numbers that mean "the server is not there (any more)", not "this statement failed":
# too many connections, shutdown in progress, aborted/killed connection, can't connect, server gone away,
# lost connection, connection closed by the server for inactivity.
UNREACHABLE_CODES = frozenset({1040, 1053, 1077, 1152, 1927, 2002, 2003, 2006, 2013, 2014, 2045, 2055, 4031})
# "Your transaction was rolled back, repeat it": deadlock (also how a Galera node reports a certification
# conflict at COMMIT: another node wrote the same rows first), lock wait timeout, and a Galera node that is not
# ready for queries (1047 WSREP has not yet prepared node, e.g. while it rejoins the cluster).
CONFLICT_CODES = frozenset({1213, 1205})
NOT_READY_CODES = frozenset({1047})


def _mysql_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _driver_unreachable(exc: BaseException) -> bool:
    """A driver-level error (asyncmy, pymysql) meaning the database is unreachable. (The drivers wrap socket
    errors in their own; a bare ConnectionError may come from anything, e.g. a payment gateway's socket.)"""
    module = type(exc).__module__
    if module.startswith(("asyncmy", "pymysql")):
        if _mysql_code(exc) in UNREACHABLE_CODES:
            return True
        # Closed connection: asyncmy/pymysql raise InterfaceError (0, '') for a socket already gone.
        return type(exc).__name__ == "InterfaceError" and "(0, '')" in str(exc)
    return False


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` says the database connection is unusable or the server cannot be reached."""
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or _driver_unreachable(exc.orig)
    return _driver_unreachable(exc)


def _driver_code(exc: BaseException) -> int | None:
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if type(orig).__module__.startswith(("asyncmy", "pymysql")):
        return _mysql_code(orig)
    return None


def _redis_unreachable(exc: BaseException) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


def infrastructure_fault(exc: BaseException) -> AppError | None:
    """The app's own error for an expected infrastructure fault, or None for anything else (a bug, or an
    AppError, which is an answer already)."""
    if is_disconnect(exc) or _driver_code(exc) in NOT_READY_CODES:
        return DatabaseUnavailable()
    if _driver_code(exc) in CONFLICT_CODES:
        return WriteConflict()
    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection busy for pool_timeout seconds
        return DatabaseUnavailable("The database is overloaded right now; try again shortly.")
    if _redis_unreachable(exc):
        return ServiceUnavailable(
            "A service the shop depends on cannot be reached; try again shortly.",
            headers={"Retry-After": str(DatabaseUnavailable.retry_after)},
        )
    return None
