from tests.webhooks.factories import allow_private, receiver

__all__ = ["allow_private", "receiver"]
