from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from app.kit.schemas import InputModel, OutputModel
from app.traceability.models import CertificateKind, EventType

Id = Annotated[int, Field(ge=1, le=9_223_372_036_854_775_807, strict=True)]
MAX_DETAILS_CHARS = 4000
MAX_SYNC_CODES = 1000
MAX_RUN_CODES = 100_000


# Producers and plots


class ProducerCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    region: str = Field(min_length=1, max_length=64)
    license_no: str = Field(max_length=64, description="geographical-indication authorisation number")
    contact_name: str = Field(default="", max_length=32)
    contact_phone: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)


class ProducerRead(OutputModel):
    id: int
    name: str
    region: str
    license_no: str
    contact_name: str
    contact_phone: str
    address: str
    description: str
    created_at: datetime


class PlotCreate(InputModel):
    name: str = Field(min_length=1, max_length=64)
    village: str = Field(default="", max_length=64)
    area_mu: Decimal | None = Field(default=None, ge=0, max_digits=10, decimal_places=2, description="亩")
    latitude: Decimal | None = Field(default=None, ge=-90, le=90, max_digits=9, decimal_places=6)
    longitude: Decimal | None = Field(default=None, ge=-180, le=180, max_digits=9, decimal_places=6)

    @field_validator("area_mu", "latitude", "longitude", mode="before")
    @classmethod
    def _no_floats_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a number is required")
        return value


class PlotRead(OutputModel):
    id: int
    producer_id: int
    name: str
    village: str
    area_mu: Decimal | None = Field(description="亩, as a decimal string")
    latitude: Decimal | None
    longitude: Decimal | None


# Batches


class BatchCreate(InputModel):
    product_id: Id
    producer_id: Id
    variety: str = Field(default="", max_length=64)
    plot: Id | Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="a plot id of this producer, or a plot name (found, or created for this producer)",
    )
    batch_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{0,31}$")
    planted_on: date | None = None
    harvested_on: date | None = None
    milled_on: date | None = None
    packed_on: date | None = None
    best_before_on: date | None = Field(
        default=None, description="default: packed (or milled) date plus the product's shelf life"
    )
    quantity_kg: Decimal = Field(gt=0, le=Decimal("100000000"), max_digits=12, decimal_places=3)
    notes: str = Field(default="", max_length=500)

    @field_validator("quantity_kg", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a number is required")
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> BatchCreate:
        chain = [
            ("planted_on", self.planted_on),
            ("harvested_on", self.harvested_on),
            ("milled_on", self.milled_on),
            ("packed_on", self.packed_on),
        ]
        known = [(name, d) for name, d in chain if d is not None]
        for (a, da), (b, db) in zip(known, known[1:], strict=False):
            if db < da:
                raise ValueError(f"{b} is before {a}")
        if self.best_before_on and known and self.best_before_on < known[-1][1]:
            raise ValueError(f"best_before_on is before {known[-1][0]}")
        return self


class BatchRead(OutputModel):
    id: int
    batch_no: str
    product_id: int
    producer_id: int
    plot_id: int | None
    plot: PlotRead | None = None
    variety: str
    planted_on: date | None
    harvested_on: date | None
    milled_on: date | None
    packed_on: date | None
    best_before_on: date | None
    quantity_kg: Decimal
    quantity_left_kg: Decimal
    notes: str
    created_at: datetime


# Events


class EventCreate(InputModel):
    type: EventType
    occurred_at: AwareDatetime = Field(
        description="with its local UTC offset, e.g. 2026-09-28T08:30:00+08:00"
    )
    location: str = Field(default="", max_length=200)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _small_details(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, ensure_ascii=False)) > MAX_DETAILS_CHARS:
            raise ValueError(f"details may hold at most {MAX_DETAILS_CHARS} characters of JSON")
        return value


class EventRead(OutputModel):
    id: int
    batch_id: int
    type: str
    occurred_at: datetime = Field(description="in the time zone it was recorded in")
    time_zone_offset: str
    location: str
    details: dict[str, Any]
    photo_url: str | None
    created_at: datetime


# Certificates


class CertificateCreate(InputModel):
    kind: CertificateKind
    number: str = Field(min_length=1, max_length=64)
    issuer: str = Field(min_length=1, max_length=100)
    valid_from: date
    valid_until: date
    producer_id: Id | None = None
    batch_id: Id | None = None
    product_id: Id | None = None

    @model_validator(mode="after")
    def _one_owner_and_order(self) -> CertificateCreate:
        owners = [x for x in (self.producer_id, self.batch_id, self.product_id) if x is not None]
        if len(owners) != 1:
            raise ValueError("give exactly one of producer_id, batch_id, product_id")
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class CertificateRead(OutputModel):
    id: int
    kind: str
    number: str
    issuer: str
    valid_from: date
    valid_until: date
    producer_id: int | None
    batch_id: int | None
    product_id: int | None
    status: Literal["valid", "expired", "not_yet_valid"]
    expired: bool
    has_file: bool
    file_content_type: str | None
    created_at: datetime


# Codes


class CodesCreate(InputModel):
    count: int = Field(ge=1, le=MAX_SYNC_CODES, strict=True)


class CodesIssued(OutputModel):
    batch_id: int
    count: int
    codes: list[str]


class CodeRunCreate(InputModel):
    count: int = Field(ge=1, le=MAX_RUN_CODES, strict=True)


class CodeRunRead(OutputModel):
    id: int
    batch_id: int
    requested: int
    issued: int
    status: str
    progress_percent: int
    created_at: datetime
    finished_at: datetime | None


class CodeRevoke(InputModel):
    codes: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(min_length=1, max_length=1000)
    reason: str = Field(default="", max_length=200)


class CodesRevoked(OutputModel):
    revoked: int
    unknown: list[str]


class TraceCodeRead(OutputModel):
    code: str
    batch_id: int
    run_id: int | None
    scan_count: int
    scanner_count: int
    first_scanned_at: datetime | None
    last_scanned_at: datetime | None
    flagged_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str
    created_at: datetime


# Public verification


class TraceProducer(OutputModel):
    name: str
    region: str
    license_no: str


class TracePlot(OutputModel):
    name: str
    village: str
    area_mu: Decimal | None
    latitude: Decimal | None
    longitude: Decimal | None


class TraceEvent(OutputModel):
    type: str
    occurred_at: datetime
    time_zone_offset: str
    location: str
    details: dict[str, Any]
    photo_url: str | None


class TraceBatch(OutputModel):
    id: int
    batch_no: str
    variety: str
    producer: TraceProducer
    plot: TracePlot | None
    planted_on: date | None
    harvested_on: date | None
    milled_on: date | None
    packed_on: date | None
    best_before_on: date | None
    events: list[TraceEvent]


class TraceProduct(OutputModel):
    id: int
    name: str
    origin: str
    variety: str
    cover_image: str | None


class TraceCertificate(OutputModel):
    kind: str
    number: str
    issuer: str
    valid_from: date
    valid_until: date
    status: Literal["valid", "expired", "not_yet_valid"]
    expired: bool
    file_url: str | None = Field(
        default=None,
        description="The scan of the certificate (PDF or JPEG, served as an attachment), when there is one "
        "and the product is published",
    )


TraceReason = Literal["scanned_too_widely", "revoked", "past_best_before"]


class TraceVerdict(OutputModel):
    """What a scan says about the code (live counts); the batch's story follows it in `TraceResult`."""

    code: str
    verdict: Literal["genuine", "suspicious"]
    reasons: list[TraceReason] = Field(
        description="`scanned_too_widely`: more than TRACE_SUSPICIOUS_SCANNERS distinct scanners; "
        "`revoked`; `past_best_before`"
    )
    scan_count: int = Field(description="Scans counted, this one included")
    scanner_count: int = Field(
        description="Distinct scanners: devices (the trace page's cookie), or client networks "
        "(IPv4 /24, IPv6 /48) with one User-Agent"
    )
    first_scanned_at: datetime | None


class TraceStory(OutputModel):
    """The same for every code of a batch (cached)."""

    product: TraceProduct
    batch: TraceBatch
    certificates: list[TraceCertificate]


class TraceResult(TraceVerdict):
    product: TraceProduct
    batch: TraceBatch
    certificates: list[TraceCertificate]


class TraceScanRead(OutputModel):
    scanned_at: datetime
    client_network: str
    user_agent: str
    scanner: str


# Back office


class FlaggedProduct(OutputModel):
    product_id: int
    name: str
    gi_certificates: list[CertificateRead]


# Recall


class RecallLine(OutputModel):
    order_item_id: int
    sku_id: int
    name: str
    quantity: int
    chosen_by: Literal["staff", "fefo"]


class BatchOrderRead(OutputModel):
    order_id: int
    order_no: str
    status: str
    user_id: int
    recipient: str
    recipient_phone: str
    shipped_at: datetime | None
    lines: list[RecallLine]
