from app.errors import NotFound
from app.orders.errors import OutOfStock, QuantityLimitExceeded, SkuUnavailable


class SkuNotFound(NotFound):
    code = "sku_not_found"
    title = "SKU not found"


class CartItemNotFound(NotFound):
    code = "cart_item_not_found"
    title = "Not in the cart"


__all__ = ["SkuNotFound", "CartItemNotFound", "OutOfStock", "QuantityLimitExceeded", "SkuUnavailable"]
