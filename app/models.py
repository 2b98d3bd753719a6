"""Every domain's models, imported so that Alembic and the tests see the whole schema."""

from app.audit import AuditLog
from app.cart.models import CartItem
from app.catalog.models import Category, Product, ProductImage, Sku
from app.coupons.models import Coupon, CouponCategory, CouponClaim, CouponProduct
from app.db import Base
from app.eventbus.models import ProcessedEvent
from app.events import OutboxEvent
from app.flash_sales.models import FlashSale, FlashSalePurchase
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
from app.reviews.models import Review, ReviewImage
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

__all__ = [
    "Base",
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
    "Review",
    "ReviewImage",
]
