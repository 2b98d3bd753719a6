"""create_app(): routers, middleware, exception handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.config import get_settings
from app.db import dispose_engine
from app.kit.logging import configure_logging
from app.kit.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from app.kit.problems import install_exception_handlers
from app.redis import close_redis

DESCRIPTION = """
稻香 (Daoxiang) sells Wuchang rice and other premium farm products.

* Money is integer fen (`price_fen: 5990` is ¥59.90); timestamps are ISO 8601 with a time zone.
* Errors are RFC 9457 problem details with a stable `code`.
* Log in with `POST /api/auth/login` or the **Authorize** button (phone as username).
"""

OPENAPI_TAGS = [
    {"name": "auth", "description": "Log in, refresh and log out"},
    {"name": "users", "description": "Accounts and shipping addresses"},
    {"name": "operations", "description": "Health and operations"},
]


def _routers() -> list:
    # One router per domain; each domain package owns its routes.
    from app.health.router import router as health_router
    from app.users.router import router as users_router

    return [health_router, users_router]


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await close_redis()
    await dispose_engine()


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="稻香 Daoxiang API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    install_exception_handlers(app)
    for router in _routers():
        app.include_router(router)
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(RequestIdMiddleware)
    return app


app = create_app()
