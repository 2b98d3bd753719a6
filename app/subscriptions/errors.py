# A subscription's refusals at checkout are checkout's own (address, SKU, limits); these are its own states.
from app.errors import Conflict, NotFound


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
    title = "Subscription not found"


class InvalidSubscriptionState(Conflict):
    """The action does not apply to the subscription as it is now (pausing a cancelled one, resuming an
    active one, skipping when nothing is left to deliver...)."""

    code = "invalid_subscription_state"
    title = "Invalid subscription state"
