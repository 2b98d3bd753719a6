# The stock errors an order shares with the cart are defined there (cart sits below orders).
from app.cart.errors import OutOfStock as OutOfStock
from app.cart.errors import QuantityLimitExceeded as QuantityLimitExceeded
from app.cart.errors import SkuUnavailable as SkuUnavailable
from app.errors import BadRequest, Conflict, NotFound, Unprocessable


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class TooManyUnpaidOrders(Conflict):
    """MAX_UNPAID_ORDERS_PER_CUSTOMER reached (no `sku_ids`), or MAX_UNPAID_UNITS_PER_SKU would be passed
    by the SKUs in `sku_ids`; both count this customer's orders awaiting payment."""

    code = "too_many_unpaid_orders"
    title = "Too many unpaid orders"


class RefundRequestLimitReached(Conflict):
    code = "refund_request_limit_reached"
    title = "Refund request limit reached"


class CartEmpty(Unprocessable):
    code = "cart_empty"
    title = "Cart is empty"


class CouponNotFound(Unprocessable):
    code = "coupon_not_found"
    title = "Unknown coupon"


class InvalidOrderState(Conflict):
    code = "invalid_order_state"
    title = "Invalid order state"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    title = "Idempotency key reused"


class RequestInProgress(Conflict):
    code = "request_in_progress"
    title = "Request in progress"


class AmountMismatch(BadRequest):
    code = "amount_mismatch"
    title = "Amount mismatch"


class ExportNotFound(NotFound):
    code = "export_not_found"
    title = "Export not found"


class ExportNotReady(Conflict):
    code = "export_not_ready"
    title = "Export not ready"
