"""Webhook errors (stable codes)."""

from app.errors import Conflict, NotFound, Unprocessable


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    title = "Webhook not found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "Webhook delivery not found"


class WebhookUrlRefused(Unprocessable):
    """Not http(s), credentials in it, unresolvable, or it resolves to a private, loopback, link-local,
    multicast or reserved address (`reason` says which)."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"


class WebhookDisabled(Conflict):
    code = "webhook_disabled"
    title = "Webhook disabled"
