from app.catalog.errors import SkuNotFound as SkuNotFound
from app.errors import Conflict, NotFound


class PresaleNotFound(NotFound):
    code = "presale_not_found"
    title = "Pre-sale not found"


class PresaleSoldOut(Conflict):
    """The quota left is smaller than the quantity asked for."""

    code = "presale_sold_out"
    title = "Pre-sale sold out"


class PresaleNotOpen(Conflict):
    """The deposit window is over (deposits are taken from creation until deposit_ends_at)."""

    code = "presale_not_open"
    title = "Pre-sale not open"


class BalanceNotOpen(Conflict):
    """The balance can be paid only between balance_starts_at and balance_ends_at."""

    code = "presale_balance_not_open"
    title = "Balance not open"


class NotShippableYet(Conflict):
    """A pre-sale order ships from its pre-sale's ships_from."""

    code = "presale_not_shippable_yet"
    title = "Pre-sale not shippable yet"


class DepositNotRefundable(Conflict):
    """Before the balance is paid the deposit is refunded only where the pre-sale's rule says so."""

    code = "presale_deposit_not_refundable"
    title = "Deposit not refundable"
