"""Subscriptions (周期购): one prepaid order for every period, then one delivery order per period, placed by the
worker on its date (app.checkout.delivery). Sits above checkout and payments: it places its orders through the
one pipeline and refunds a cancellation through the ordinary refund path (docs/architecture.md)."""
