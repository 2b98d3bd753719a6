from app.catalog.errors import SkuNotFound as SkuNotFound
from app.errors import Conflict, NotFound, Unprocessable


class CustomRequestNotFound(NotFound):
    code = "custom_request_not_found"
    title = "Custom request not found"


class InvalidRecipients(Unprocessable):
    """Some recipient rows are wrong: `errors` lists each by row number with the reason; nothing was stored."""

    code = "invalid_recipients"
    title = "Invalid recipients"


class QuantityTooSmall(Unprocessable):
    code = "quantity_too_small"
    title = "Quantity too small"


class InvalidRequestState(Conflict):
    """The request is not in a status that allows this (quoting an accepted request, accepting an expired
    quote, approving a proof that is not there, ...)."""

    code = "invalid_request_state"
    title = "Invalid request state"


class QuoteExpired(Conflict):
    code = "quote_expired"
    title = "Quote expired"


class AlreadyAccepted(Conflict):
    code = "already_accepted"
    title = "Already accepted"


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    title = "Recipient not found"


class ParcelAlreadyShipped(Conflict):
    code = "parcel_already_shipped"
    title = "Parcel already shipped"


class UnsupportedFile(Unprocessable):
    code = "unsupported_file"
    title = "Unsupported file"


class ProofNotFound(NotFound):
    code = "proof_not_found"
    title = "Proof not found"
