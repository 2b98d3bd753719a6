from tests.webhooks.factories import allow_private, receiver, tls_receiver

__all__ = ["allow_private", "receiver", "tls_receiver"]
