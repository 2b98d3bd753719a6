from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime


class RequestStatus(enum.StrEnum):
    """requested → quoted → proof_ready → in_production (after the proof is approved and the order paid).
    Accepting the quote (the order of kind `custom`) does not change the status: it sets `order_id`."""

    requested = "requested"
    quoted = "quoted"
    proof_ready = "proof_ready"
    in_production = "in_production"


class CustomRequest(TimestampMixin, Base):
    """A company's request for gift boxes of one SKU with its own packaging text, sent to its recipients."""

    __tablename__ = "custom_requests"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_custom_requests_user_id_id", "user_id", "id"),
        Index("ix_custom_requests_status_id", "status", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    company: Mapped[str] = mapped_column(String(100), nullable=False)
    contact_name: Mapped[str] = mapped_column(String(32), nullable=False)
    contact_phone: Mapped[str] = mapped_column(String(20), nullable=False)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    packaging_text: Mapped[str] = mapped_column(String(500), nullable=False)
    deliver_by: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default=RequestStatus.requested.value)
    recipients_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unit_price_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    setup_fee_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    quoted_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    quoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The artwork proof under PRIVATE_FILES_DIR (never public: the company's logo before it is approved).
    proof_path: Mapped[str | None] = mapped_column(String(200), nullable=True)
    proof_content_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    proof_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    proof_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set by one conditional UPDATE when the quote is accepted; cleared when that order ends unpaid, and
    # `accept_no` counts up so the next acceptance is a new request under the one checkout's idempotency key.
    order_id: Mapped[int | None] = mapped_column(BigId, unique=True, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    accept_no: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    parcels_shipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CustomRecipient(Base):
    """One recipient of a request: one parcel. `idx` (1-based, the row of the list) is the `recipient_index`
    staff ship by; the parcel's carrier, tracking number and batch are set once, by a conditional UPDATE."""

    __tablename__ = "custom_recipients"
    __table_args__ = (UniqueConstraint("request_id", "idx"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("custom_requests.id", ondelete="CASCADE"), nullable=False
    )
    idx: Mapped[int] = mapped_column(Integer, nullable=False)
    recipient: Mapped[str] = mapped_column(String(32), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    province: Mapped[str] = mapped_column(String(64), nullable=False)
    city: Mapped[str] = mapped_column(String(32), nullable=False)
    district: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str] = mapped_column(String(200), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    carrier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tracking_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    shipped_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
