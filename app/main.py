"""create_app(): routers, middleware, exception handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.config import get_settings
from app.db import dispose_engine
from app.flows import order_kinds, product_story
from app.kit.guard import HttpGuardMiddleware
from app.kit.logging import configure_logging
from app.kit.middleware import BodySizeLimitMiddleware, ErrorBoundary, RequestIdMiddleware, RetryOnConflict
from app.kit.openapi import operation_id, tidy_openapi
from app.kit.problems import install_exception_handlers
from app.redis import close_redis
from app.storefront.csrf import CsrfMiddleware
from app.storefront.errors import boundary_response, install_page_error_handlers
from app.storefront.templating import STATIC_DIR, csrf_refusal

DESCRIPTION = """
稻香 (Daoxiang) sells Wuchang rice and other premium farm products.

* Money is integer fen (`price_fen: 5990` is ¥59.90); timestamps are ISO 8601 with a time zone.
* Errors are RFC 9457 problem details with a stable `code`.
* Log in with `POST /api/auth/login` or the **Authorize** button (phone as username).
"""

OPENAPI_TAGS = [
    {"name": "auth", "description": "Log in, refresh and log out"},
    {"name": "users", "description": "Accounts and shipping addresses"},
    {"name": "notifications", "description": "Customer notifications made from domain events"},
    {"name": "operations", "description": "Health and operations"},
    {"name": "cart", "description": "The customer's cart (live prices and stock)"},
    {"name": "orders", "description": "Checkout and the customer's orders"},
    {"name": "orders (staff)", "description": "Fulfilment, refunds and exports for shop staff"},
    {"name": "coupons", "description": "Coupons (优惠券, 满减): the coupon centre, claiming, my coupons"},
    {"name": "coupons (staff)", "description": "Staff: create coupon batches, pause them, see their usage"},
    {"name": "flash sales", "description": "Flash sales (秒杀): running and upcoming sales, buying from one"},
    {"name": "flash sales (staff)", "description": "Staff: create, list and cancel flash sales"},
    {
        "name": "subscriptions",
        "description": "Subscriptions (周期购): prepaid periods, their deliveries and schedule",
    },
    {"name": "subscriptions (staff)", "description": "Staff: every subscription, the deliveries to pack"},
    {
        "name": "adoption",
        "description": "Field adoption (认养一亩田): plans with the plot's story, adopting shares, my adoptions"
        " and the deliveries drawn on them",
    },
    {"name": "adoption (staff)", "description": "Staff: offer a plot's season as shares, list the plans"},
    {
        "name": "custom boxes",
        "description": "Corporate gift boxes (企业定制礼盒): request, recipients, accept, proof",
    },
    {
        "name": "custom boxes (staff)",
        "description": "Staff: quote, proof, recipients, the courier's shipping list",
    },
    {"name": "pre-sales", "description": "New-harvest pre-sales (预售): a deposit now, the balance later"},
    {"name": "pre-sales (staff)", "description": "Staff: pre-sales, and who is behind on balance"},
    {
        "name": "webhooks (staff)",
        "description": "Admins: subscribe merchants' systems (ERP, WMS) to events, signed, with a delivery log",
    },
    {"name": "catalog", "description": "Categories and products (search, filters, live stock)"},
    {"name": "catalog admin", "description": "Staff: products, SKUs, stock, categories, images"},
    {"name": "payments", "description": "Paying an order: sandbox, Alipay, WeChat Pay"},
    {"name": "payment callbacks", "description": "Signed notifications from the payment gateways"},
    {"name": "traceability", "description": "Staff: producers, plots, batches, events, certificates, codes"},
    {"name": "trace", "description": "Public verification of a bag's trace code"},
    {"name": "reviews", "description": "Reviews with photos (晒单评价) from buyers of completed orders"},
    {
        "name": "reviews (staff)",
        "description": "Staff: the moderation list, hide (with a reason), show again, reply",
    },
    {"name": "users (admin)", "description": "Administrators: accounts, roles, disabling"},
]


def _routers() -> list:
    # One router per domain (its API routes), the pages from the storefront, cross-domain routes from flows.
    from app.adoptions.router import router as adoptions_router
    from app.cart.router import router as cart_router
    from app.catalog.router import router as catalog_router
    from app.checkout.adoption_router import router as adoption_orders_router
    from app.checkout.router import router as checkout_router
    from app.coupons.router import router as coupons_router
    from app.flash_sales.router import router as flash_sales_router
    from app.flows.custom_orders import router as custom_orders_router
    from app.flows.recall import router as recall_router
    from app.gifts.router import router as gifts_router
    from app.health.router import router as health_router
    from app.monitoring.router import router as monitoring_router
    from app.notifications.router import router as notifications_router
    from app.orders.router import router as orders_router
    from app.payments.offline import router as offline_payments_router
    from app.payments.router import router as payments_router
    from app.presales.router import router as presales_router
    from app.reviews.router import router as reviews_router
    from app.storefront import page_routers
    from app.storefront.sandbox_pay import router as payment_pages_router
    from app.storefront.trace_page import router as trace_pages_router
    from app.subscriptions.router import router as subscriptions_router
    from app.traceability.router import router as traceability_router
    from app.users.router import router as users_router
    from app.webhooks.router import router as webhooks_router

    return [
        health_router,
        monitoring_router,
        users_router,
        cart_router,
        checkout_router,
        orders_router,
        coupons_router,
        flash_sales_router,
        subscriptions_router,
        adoptions_router,
        adoption_orders_router,
        presales_router,
        reviews_router,
        catalog_router,
        payments_router,
        offline_payments_router,
        gifts_router,
        custom_orders_router,
        payment_pages_router,
        notifications_router,
        traceability_router,
        recall_router,  # the last staff trace route: keeps its place in the OpenAPI document
        webhooks_router,
        trace_pages_router,
        *page_routers(),
    ]


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # What is loaded by now (routes, models, templates, the pinyin dictionary) lives as long as the process.
    # Frozen, the garbage collector stops rescanning it: a full collection over it took ~150 ms, which was
    # the slowest 1% of the catalogue's requests.
    gc.collect()
    gc.freeze()
    yield
    from app.catalog import cache
    from app.kit import leandb

    leandb.close()
    await cache.close()
    await close_redis()
    await dispose_engine()


def _serve_tidy_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = tidy_openapi(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(*, fast_paths: bool = True) -> FastAPI:
    """`fast_paths=False` leaves out the fast paths for the hottest requests (catalogue reads, checkout):
    the routes alone answer, which the tests compare them with."""
    settings = get_settings()
    configure_logging(settings.log_level)
    product_story.install()
    order_kinds.install()
    app = FastAPI(
        # ASCII: client generators name the package after it (the Chinese name is in the description).
        title="Daoxiang API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
        # No OpenTelemetry here: without this FastAPI asks the global providers on every request whether
        # someone configured one (a cost the hottest paths, answered inside the app, paid each time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Off in production unless API_DOCS_ENABLED: they list every staff route. `daoxiang openapi`
        # still writes docs/openapi.yaml (app.openapi() does not need the routes).
        **({} if settings.docs_enabled else {"docs_url": None, "redoc_url": None, "openapi_url": None}),
    )
    install_exception_handlers(app)
    _serve_tidy_openapi(app)
    install_page_error_handlers(app)
    for router in _routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Innermost of the middleware: the body size limit applies before the CSRF check reads a form.
    app.add_middleware(CsrfMiddleware, refusal=csrf_refusal)
    # PUT and DELETE rolled back by a write conflict (a deadlock, a Galera certification failure) run again,
    # inside the body limit (the body it keeps for the repeat is bounded).
    app.add_middleware(RetryOnConflict)
    # Uploaded and generated images (product photos, demo covers).
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/media", StaticFiles(directory=settings.media_dir, check_dir=False), name="media")
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    if fast_paths:
        # Inside the request id (every response keeps its X-Request-ID and access log line), outside the rest.
        from app.catalog.fast_reads import CatalogFastPath
        from app.checkout.fast_path import CheckoutFastPath
        from app.traceability.fast_scan import TraceScanFastPath

        app.add_middleware(TraceScanFastPath)
        app.add_middleware(CheckoutFastPath)
        app.add_middleware(CatalogFastPath)
    # Outside the fast paths: no request, hot or not, is answered for a host that is not ours.
    app.add_middleware(HttpGuardMiddleware)
    # Just inside the request id: whatever escapes (a bug, an unreachable database) is answered and logged
    # once here, with the request id, and the connection stays open.
    app.add_middleware(ErrorBoundary, respond=boundary_response)
    app.add_middleware(RequestIdMiddleware, metrics=settings.metrics_token is not None)
    return app


app = create_app()
