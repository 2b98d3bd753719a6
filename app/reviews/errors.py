"""Review errors (stable codes, problem+json)."""

from app.errors import Conflict, NotFound, Unprocessable


class ReviewNotFound(NotFound):
    code = "review_not_found"
    title = "Review not found"


class OrderLineNotFound(NotFound):
    """The order is not the customer's, or has no line of this SKU (others' orders: 404, as everywhere)."""

    code = "order_line_not_found"
    title = "Order line not found"


class OrderNotReviewable(Conflict):
    """Only a `completed` order's lines are reviewed."""

    code = "order_not_reviewable"
    title = "Order not reviewable"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    title = "Already reviewed"


class ReviewNotEditable(Conflict):
    """A review is edited once, within the edit window, and never an automatic or hidden one."""

    code = "review_not_editable"
    title = "Review not editable"


class ReviewRejected(Unprocessable):
    """Banned words (named in `words`) or contact details (`reason`: contact): links, phone numbers, WeChat."""

    code = "review_rejected"
    title = "Review rejected"


class ReviewImageInvalid(Unprocessable):
    """`image_ids` names photos that are not the customer's own unused uploads."""

    code = "review_image_invalid"
    title = "Review image invalid"
