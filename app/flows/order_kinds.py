"""The order kinds' releases and cancel hooks, handed to orders once at start-up.

Orders cannot import the domains that sell through it (coupons, flash sales, ...): each of them offers the
functions orders must call (app.orders.releases), and this flow, above them all, registers them. Called
by `app.main.create_app` and by the worker before its first job; calling it again changes nothing (a test
that put its own release in place keeps it).
"""

from __future__ import annotations

from app.adoptions import service as adoptions_service
from app.coupons import service as coupons_service
from app.flash_sales import service as flash_sales_service
from app.gifts import service as gifts_service
from app.gifts import shipping as gifts_shipping
from app.orders import parcels, releases
from app.orders.models import OrderKind
from app.presales import service as presales_service
from app.subscriptions import service as subscriptions_service

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    # An unpaid order cancelled (by the buyer or at its deadline) gives its coupon back; a refund does not.
    releases.on_unpaid_cancel("coupons", coupons_service.release_for_orders)
    # A flash order's units go back to its sale (to the SKU's stock once the sale has closed).
    releases.reserve_with(OrderKind.flash_sale, flash_sales_service.give_back_orders)
    # A subscription's order reserves nothing: each delivery takes its own stock on its date.
    releases.reserve_with(OrderKind.subscription, subscriptions_service.nothing_reserved)
    # An adoption's shares go back to its plan.
    releases.reserve_with(OrderKind.adoption, adoptions_service.give_back_orders)
    # The prepaid kinds ship as their delivery orders, never themselves; a subscription is refunded by
    # cancelling it, an adoption only while nothing was drawn (else the delivered goods would be refunded too).
    releases.check_ship_with(OrderKind.subscription, subscriptions_service.refuse_shipping)
    releases.check_refund_request_with(OrderKind.subscription, subscriptions_service.refuse_refund_request)
    releases.check_ship_with(OrderKind.adoption, adoptions_service.refuse_shipping)
    releases.check_refund_request_with(OrderKind.adoption, adoptions_service.check_refund_request)
    # A custom order reserves no stock (made to order); ending unpaid frees its request for a new acceptance.
    releases.reserve_with(OrderKind.custom, gifts_service.give_back_orders)
    # It ships one parcel per recipient (POST /api/admin/orders/{id}/ship with recipient_index).
    parcels.ship_with(OrderKind.custom, gifts_shipping.ship_parcel)
    # A pre-sale order's units go back to its quota; it ships from ships_from, taking stock then; its
    # deposit is refunded on request only where the pre-sale's rule says so.
    releases.reserve_with(OrderKind.presale, presales_service.give_back_orders)
    releases.check_ship_with(OrderKind.presale, presales_service.check_ship)
    releases.check_refund_with(OrderKind.presale, presales_service.check_refund)
