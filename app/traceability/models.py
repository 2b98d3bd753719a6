"""Producers, plots, batches and their EPCIS-style events, certificates, trace codes and scans."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class EventType(enum.StrEnum):
    planted = "planted"
    fertilised = "fertilised"
    irrigated = "irrigated"
    inspected = "inspected"
    harvested = "harvested"
    dried = "dried"
    milled = "milled"
    packed = "packed"
    shipped = "shipped"
    received = "received"


class CertificateKind(enum.StrEnum):
    geographical_indication = "geographical_indication"
    green_food = "green_food"
    organic = "organic"
    inspection_report = "inspection_report"
    other = "other"


class CodeRunStatus(enum.StrEnum):
    pending = "pending"
    running = "running"
    done = "done"


class Producer(TimestampMixin, Base):
    """A cooperative or farm. `license_no` is its geographical-indication authorisation number."""

    __tablename__ = "producers"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    region: Mapped[str] = mapped_column(String(64), nullable=False)
    license_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    contact_name: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    contact_phone: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    address: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Plot(Base):
    """A field of one producer. Area in 亩 with two decimals (Decimal, never float)."""

    __tablename__ = "plots"
    __table_args__ = (UniqueConstraint("producer_id", "name"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id", ondelete="RESTRICT"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    village: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    area_mu: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6), nullable=True)
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Batch(TimestampMixin, Base):
    """One harvest of one plot, milled and packed as one lot. `quantity_left_g` feeds FEFO allocation."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint("quantity_left_g >= 0", name="quantity_left_not_negative"),
        Index("ix_batches_product_fefo", "product_id", "best_before_on", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True, nullable=False
    )
    producer_id: Mapped[int] = mapped_column(
        ForeignKey("producers.id", ondelete="RESTRICT"), index=True, nullable=False
    )
    plot_id: Mapped[int | None] = mapped_column(ForeignKey("plots.id", ondelete="RESTRICT"), nullable=True)
    variety: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    planted_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    harvested_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    milled_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    packed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    best_before_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    quantity_kg: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False)
    quantity_left_g: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    notes: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class BatchEvent(Base):
    """What happened to a batch, when (with the local UTC offset), where and why — an EPCIS 2.0 event."""

    __tablename__ = "batch_events"
    __table_args__ = (Index("ix_batch_events_batch_time", "batch_id", "occurred_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_uuid: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    tz_offset: Mapped[str] = mapped_column(String(6), nullable=False, default="+08:00")
    location: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    photo_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Certificate(TimestampMixin, Base):
    """Attached to exactly one of a producer, a batch or a product."""

    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN producer_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN batch_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN product_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="exactly_one_owner",
        ),
        Index("ix_certificates_valid_until", "valid_until"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    number: Mapped[str] = mapped_column(String(64), nullable=False)
    issuer: Mapped[str] = mapped_column(String(100), nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_until: Mapped[date] = mapped_column(Date, nullable=False)
    producer_id: Mapped[int | None] = mapped_column(
        ForeignKey("producers.id", ondelete="CASCADE"), index=True, nullable=True
    )
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), index=True, nullable=True
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True, nullable=True
    )
    file_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    file_content_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expiry_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CodeRun(Base):
    """A large issue of codes, produced in chunks by the worker; `issued` is the progress."""

    __tablename__ = "code_runs"
    __table_args__ = (Index("ix_code_runs_status", "status"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), index=True, nullable=False
    )
    requested: Mapped[int] = mapped_column(Integer, nullable=False)
    issued: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CodeRunStatus.pending.value)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TraceCode(Base):
    __tablename__ = "trace_codes"
    __table_args__ = (
        Index("ix_trace_codes_batch", "batch_id", "id"),
        Index("ix_trace_codes_flagged_at", "flagged_at"),  # the dashboard's flagged codes, newest first
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), nullable=False)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("code_runs.id", ondelete="SET NULL"), index=True, nullable=True
    )
    scan_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Distinct scanners (see app.traceability.scans): what the verdict judges, not the number of requests.
    scanner_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Of `scan_count`, the scans counted in Redis and brought here by the worker's flush (the rest the
    # database counted itself): what keeps the live count exact across a Redis outage (app.traceability.scans).
    flushed_scan_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class TraceScan(Base):
    """One scan: when, the client's network (IPv4 /24, IPv6 /48), user agent and scanner — nothing more."""

    __tablename__ = "trace_scans"
    __table_args__ = (Index("ix_trace_scans_code_time", "code_id", "scanned_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("trace_codes.id", ondelete="CASCADE"), nullable=False)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    client_network: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    user_agent: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    scanner: Mapped[str] = mapped_column(String(16), nullable=False, default="")


class TraceCodeScanner(Base):
    """One distinct scanner of one code (a hash: a device, or a client network with one User-Agent)."""

    __tablename__ = "trace_code_scanners"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    code_id: Mapped[int] = mapped_column(
        ForeignKey("trace_codes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    scanner: Mapped[str] = mapped_column(String(16), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class TraceScanFlush(Base):
    """A batch of scans moved from Redis to the database: written in the same transaction as the batch, so a
    batch retried after a crash is recognised and never counted twice."""

    __tablename__ = "trace_scan_flushes"
    __table_args__ = (Index("ix_trace_scan_flushes_flushed_at", "flushed_at"), MYSQL_TABLE_ARGS)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    flushed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class BatchAllocation(Base):
    """Which batch a shipped order line came from (for recalls): one row per line and batch."""

    __tablename__ = "batch_allocations"
    __table_args__ = (
        UniqueConstraint("order_item_id", "batch_id"),
        Index("ix_batch_allocations_batch_order", "batch_id", "order_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_item_id: Mapped[int] = mapped_column(
        ForeignKey("order_items.id", ondelete="CASCADE"), nullable=False
    )
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, nullable=False
    )
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="RESTRICT"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity_g: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    chosen_by: Mapped[str] = mapped_column(String(8), nullable=False)  # "staff" or "fefo"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
