"""Coupon errors. `coupon_not_found` at checkout (422) is defined by orders (app.orders.errors.CouponNotFound,
the code POST /api/orders has always answered) and re-exported here."""

from app.errors import Conflict, NotFound, Unprocessable
from app.orders.errors import CouponNotFound as CouponNotFound


class CouponBatchNotFound(NotFound):
    """No coupon batch with this id (the claim route, the staff routes)."""

    code = "coupon_batch_not_found"
    title = "Coupon not found"


class CouponLimitReached(Conflict):
    code = "coupon_limit_reached"
    title = "Coupon limit reached"


class CouponSoldOut(Conflict):
    code = "coupon_sold_out"
    title = "Coupon sold out"


class CouponNotClaimable(Conflict):
    """Paused by staff, not started or already ended (`reason`: paused, not_started, ended)."""

    code = "coupon_not_claimable"
    title = "Coupon not claimable"


class CouponNotApplicable(Unprocessable):
    """The code is the customer's, but not for this order (`reason`: used, expired, not_started,
    below_threshold, out_of_scope)."""

    code = "coupon_not_applicable"
    title = "Coupon not applicable"


class CouponScopeInvalid(Unprocessable):
    """product_ids or category_ids name products or categories that do not exist."""

    code = "coupon_scope_invalid"
    title = "Unknown products or categories"
