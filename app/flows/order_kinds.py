"""The order kinds' releases and cancel hooks, handed to orders once at start-up.

Orders cannot import the domains that sell through it (coupons, flash sales, ...): each of them offers the
functions orders must call (app.orders.releases), and this flow, above them all, registers them. Called
by `app.main.create_app` and by the worker before its first job; calling it again changes nothing.
"""

from __future__ import annotations

from app.coupons import service as coupons_service
from app.orders import releases


def install() -> None:
    # An unpaid order cancelled (by the buyer or at its deadline) gives its coupon back; a refund does not.
    releases.on_unpaid_cancel("coupons", coupons_service.release_for_orders)
