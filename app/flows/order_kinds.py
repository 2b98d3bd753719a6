"""The order kinds' releases and cancel hooks, handed to orders once at start-up.

Orders cannot import the domains that sell through it (coupons, flash sales, ...): each of them offers the
functions orders must call (app.orders.releases), and this flow, above them all, registers them. Called
by `app.main.create_app` and by the worker before its first job; calling it again changes nothing.
"""

from __future__ import annotations


def install() -> None:
    """Nothing to register until a kind other than `standard` or a coupon exists."""
