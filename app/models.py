"""Every domain's models, imported so that Alembic and the tests see the whole schema."""

from app.adoptions.models import Adoption, AdoptionDelivery, AdoptionPlan
from app.audit import AuditLog
from app.cart.models import CartItem
from app.catalog.models import Category, Product, ProductImage, Sku
from app.checkout.models import DeliveryOrder
from app.coupons.models import Coupon, CouponCategory, CouponClaim, CouponProduct
from app.db import Base
from app.eventbus.models import ProcessedEvent
from app.events import OutboxEvent
from app.flash_sales.models import FlashSale, FlashSalePurchase
from app.gifts.models import CustomRecipient, CustomRequest
from app.notifications.models import Notification
from app.orders.models import (
    IdempotencyKey,
    Order,
    OrderDayStat,
    OrderExport,
    OrderHistory,
    OrderItem,
    OrderStatDelta,
)
from app.payments.models import (
    Payment,
    PaymentNotification,
    PaymentRefund,
    PlatformCertificate,
    UnmatchedPayment,
)
from app.presales.models import Presale, PresaleOrder
from app.reviews.models import Review, ReviewImage
from app.subscriptions.models import Subscription, SubscriptionDelivery
from app.traceability.models import (
    Batch,
    BatchAllocation,
    BatchEvent,
    Certificate,
    CodeRun,
    Plot,
    Producer,
    TraceCode,
    TraceCodeScanner,
    TraceScan,
    TraceScanFlush,
)
from app.users.models import Address, RefreshToken, ThrottleHit, User
from app.webhooks.models import Webhook, WebhookDelivery, WebhookMessage

__all__ = [
    "Base",
    "DeliveryOrder",
    "Subscription",
    "SubscriptionDelivery",
    "Webhook",
    "WebhookMessage",
    "WebhookDelivery",
    "AuditLog",
    "OutboxEvent",
    "ProcessedEvent",
    "Notification",
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
    "OrderDayStat",
    "OrderStatDelta",
    "OrderExport",
    "OrderHistory",
    "IdempotencyKey",
    "FlashSale",
    "FlashSalePurchase",
    "AdoptionPlan",
    "Adoption",
    "AdoptionDelivery",
    "CustomRequest",
    "CustomRecipient",
    "Payment",
    "PaymentNotification",
    "PaymentRefund",
    "PlatformCertificate",
    "UnmatchedPayment",
    "Producer",
    "Plot",
    "Batch",
    "BatchAllocation",
    "BatchEvent",
    "Certificate",
    "CodeRun",
    "TraceCode",
    "TraceScan",
    "TraceCodeScanner",
    "TraceScanFlush",
    "Coupon",
    "CouponProduct",
    "CouponCategory",
    "CouponClaim",
    "Presale",
    "PresaleOrder",
    "Review",
    "ReviewImage",
]
