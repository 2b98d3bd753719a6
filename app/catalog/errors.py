from app.errors import AppError, Conflict, NotFound, Unprocessable


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "Product not found"


class SkuNotFound(NotFound):
    code = "sku_not_found"
    title = "SKU not found"


class CategoryNotFound(NotFound):
    code = "category_not_found"
    title = "Category not found"


class ImageNotFound(NotFound):
    code = "image_not_found"
    title = "Image not found"


class UnknownCategory(Unprocessable):
    code = "unknown_category"
    title = "Unknown category"


class CategoryInUse(Conflict):
    code = "category_in_use"
    title = "Category in use"


class CategoryCycle(Unprocessable):
    code = "category_cycle"
    title = "A category cannot be its own ancestor"


class ProductNotPublishable(Conflict):
    code = "product_not_publishable"
    title = "Product cannot be published"


class InvalidImage(Unprocessable):
    code = "invalid_image"
    title = "Not a JPEG, PNG or WebP image"


class ImageTooLarge(AppError):
    status_code = 413
    code = "image_too_large"
    title = "Image too large"


class ImageOrderMismatch(Unprocessable):
    code = "image_order_mismatch"
    title = "The new order must list every image of the product exactly once"


class PriceAboveOriginal(Unprocessable):
    code = "price_above_original"
    title = "The struck-through price must not be below the price"
