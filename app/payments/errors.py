from app.errors import AppError, BadRequest, NotFound, TooManyRequests, Unprocessable
from app.orders.errors import AmountMismatch

__all__ = [
    "AmountMismatch",
    "AppIdMismatch",
    "BadNotification",
    "BadSignature",
    "ChannelNotConfigured",
    "GatewayError",
    "NotificationTooLarge",
    "PaymentNotFound",
    "SellerMismatch",
    "StaleNotification",
    "TooManyNotifications",
]


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    title = "Payment not found"


class ChannelNotConfigured(Unprocessable):
    code = "channel_not_configured"
    title = "Payment channel not available"


class BadSignature(BadRequest):
    code = "bad_signature"
    title = "Bad signature"


class BadNotification(BadRequest):
    code = "bad_notification"
    title = "Malformed notification"


class AppIdMismatch(BadRequest):
    code = "app_id_mismatch"
    title = "Notification for another merchant"


class SellerMismatch(BadRequest):
    code = "seller_mismatch"
    title = "Notification for another seller account"


class UnmatchedPaymentNotFound(NotFound):
    code = "unmatched_payment_not_found"
    title = "Unmatched payment not found"


class StaleNotification(BadRequest):
    code = "stale_notification"
    title = "Notification too old"


class GatewayError(AppError):
    status_code = 502
    code = "gateway_error"
    title = "Payment gateway error"


class NotificationTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    title = "Payload too large"


class TooManyNotifications(TooManyRequests):
    code = "too_many_notifications"
    title = "Too many payment notifications from this address"
