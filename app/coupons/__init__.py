"""Coupons (优惠券, 满减): staff issue a batch (`Coupon`), customers claim coupons from it (`CouponClaim`,
each with its own random code) and spend one on an order at checkout.

    models.py      the batch, its scope (products, categories) and the claimed coupons
    discount.py    the arithmetic: what a coupon takes off, split over the eligible lines (pure functions)
    repository.py  SQL;  service.py  create, pause, claim, list, give back;  router.py  the API

Coupons sit above orders (a claim records the order that used it) and below checkout, which looks a code
up and marks it used through its store (app.checkout.stores) in the order's transaction. Orders never
import coupons: a cancelled or timed-out unpaid order gives its coupon back through the hook that
app.flows.order_kinds registers with app.orders.releases at start-up.
"""
