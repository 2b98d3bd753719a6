"""Server-rendered pages: the shop for customers and the back office for staff.

Pages call the same services as the API; they hold no business rules of their own. Every page lives
here, the trace page (trace_page.py) and the sandbox payment page (sandbox_pay.py) included: the domains
below never import the storefront. Pages use `render()` from `app.storefront.templating` and extend
`base.html`; every non-API POST is checked for a CSRF token by `app.storefront.csrf.CsrfMiddleware`
(put `{{ csrf_field() }}` in each form).
"""


def page_routers() -> list:
    """Every page router of the shop and the back office, for app.main."""
    from app.storefront.account_router import notifications_router
    from app.storefront.account_router import router as account_router
    from app.storefront.admin_certificates import router as admin_certificates_router
    from app.storefront.admin_coupons import router as admin_coupons_router
    from app.storefront.admin_custom_boxes import admin_router as admin_custom_boxes_router
    from app.storefront.admin_orders import router as admin_orders_router
    from app.storefront.admin_payments import router as admin_payments_router
    from app.storefront.admin_producers import router as admin_producers_router
    from app.storefront.admin_products import router as admin_products_router
    from app.storefront.admin_router import router as admin_router
    from app.storefront.admin_trace import router as admin_trace_router
    from app.storefront.admin_users import router as admin_users_router
    from app.storefront.admin_webhooks import router as admin_webhooks_router
    from app.storefront.adoptions import admin_router as admin_adoptions_router
    from app.storefront.adoptions import router as adoptions_router
    from app.storefront.auth_router import router as auth_router
    from app.storefront.coupons_router import router as coupons_router
    from app.storefront.custom_boxes import router as custom_boxes_router
    from app.storefront.flash_sales import admin_router as admin_flash_sales_router
    from app.storefront.flash_sales import router as flash_sales_router
    from app.storefront.orders_router import router as orders_router
    from app.storefront.presales import admin_router as admin_presales_router
    from app.storefront.presales import router as presales_router
    from app.storefront.reviews import admin_router as admin_reviews_router
    from app.storefront.reviews import router as reviews_router
    from app.storefront.router import router as shop_router
    from app.storefront.subscriptions import admin_router as admin_subscriptions_router
    from app.storefront.subscriptions import router as subscriptions_router

    return [
        auth_router,
        shop_router,
        orders_router,
        reviews_router,
        coupons_router,
        flash_sales_router,
        subscriptions_router,
        adoptions_router,
        custom_boxes_router,
        presales_router,
        account_router,
        notifications_router,
        admin_router,
        admin_orders_router,
        admin_payments_router,
        admin_products_router,
        admin_trace_router,
        admin_producers_router,
        admin_certificates_router,
        admin_users_router,
        admin_coupons_router,
        admin_flash_sales_router,
        admin_subscriptions_router,
        admin_adoptions_router,
        admin_custom_boxes_router,
        admin_presales_router,
        admin_webhooks_router,
        admin_reviews_router,
    ]
