"""Every domain's models, imported so that Alembic and the tests see the whole schema."""

from app.audit import AuditLog
from app.cart.models import CartItem
from app.catalog.models import Category, Product, ProductImage, Sku
from app.db import Base
from app.events import OutboxEvent
from app.orders.models import IdempotencyKey, Order, OrderHistory, OrderItem
from app.payments.models import Payment, PaymentNotification, PaymentRefund
from app.users.models import Address, RefreshToken, ThrottleHit, User

__all__ = [
    "Base",
    "AuditLog",
    "OutboxEvent",
    "Category",
    "Product",
    "ProductImage",
    "Sku",
    "User",
    "RefreshToken",
    "ThrottleHit",
    "Address",
    "CartItem",
    "Order",
    "OrderItem",
    "OrderHistory",
    "IdempotencyKey",
    "Payment",
    "PaymentNotification",
    "PaymentRefund",
]
