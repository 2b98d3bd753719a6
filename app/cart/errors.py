"""Cart errors, and the stock errors an order shares with the cart (orders, a layer above, re-exports them)."""

from app.errors import Conflict, NotFound, Unprocessable


class OutOfStock(Conflict):
    """Carries `sku_ids`: every line that was short, not just the first."""

    code = "out_of_stock"
    title = "Out of stock"


class SkuUnavailable(Conflict):
    """Carries `sku_ids`: SKUs that are unknown, switched off, or whose product is not on sale."""

    code = "sku_unavailable"
    title = "Product not available"


class QuantityLimitExceeded(Unprocessable):
    code = "quantity_limit_exceeded"
    title = "Quantity limit exceeded"


class SkuNotFound(NotFound):
    code = "sku_not_found"
    title = "SKU not found"


class CartItemNotFound(NotFound):
    code = "cart_item_not_found"
    title = "Not in the cart"
