# Creating a sale takes its units from a SKU's stock: an unknown SKU and a short stock are catalogue's and
# checkout's refusals.
from app.catalog.errors import SkuNotFound as SkuNotFound
from app.errors import Conflict, NotFound
from app.orders.errors import OutOfStock as OutOfStock


class FlashSaleNotFound(NotFound):
    code = "flash_sale_not_found"
    title = "Flash sale not found"


class FlashSaleNotActive(Conflict):
    """The sale has not started, has ended, or was cancelled."""

    code = "flash_sale_not_active"
    title = "Flash sale not active"


class SoldOut(Conflict):
    code = "sold_out"
    title = "Sold out"


class FlashSaleLimitReached(Conflict):
    """The customer would hold more of this sale than its per_customer_limit (orders not cancelled)."""

    code = "flash_sale_limit_reached"
    title = "Flash sale limit reached"


class FlashSaleClosed(Conflict):
    """Staff tried to cancel a sale that is already closed."""

    code = "flash_sale_closed"
    title = "Flash sale closed"
