from app.errors import BadRequest, Conflict, NotFound, Unprocessable


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class OutOfStock(Conflict):
    """Carries `sku_ids`: every line that was short, not just the first."""

    code = "out_of_stock"
    title = "Out of stock"


class TooManyUnpaidOrders(Conflict):
    """MAX_UNPAID_ORDERS_PER_CUSTOMER reached (no `sku_ids`), or MAX_UNPAID_UNITS_PER_SKU would be passed
    by the SKUs in `sku_ids`; both count this customer's orders awaiting payment."""

    code = "too_many_unpaid_orders"
    title = "Too many unpaid orders"


class RefundRequestLimitReached(Conflict):
    code = "refund_request_limit_reached"
    title = "Refund request limit reached"


class SkuUnavailable(Conflict):
    """Carries `sku_ids`: SKUs that are unknown, switched off, or whose product is not on sale."""

    code = "sku_unavailable"
    title = "Product not available"


class QuantityLimitExceeded(Unprocessable):
    code = "quantity_limit_exceeded"
    title = "Quantity limit exceeded"


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
