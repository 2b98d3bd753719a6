from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class Role(enum.StrEnum):
    customer = "customer"
    merchant = "merchant"
    admin = "admin"


STAFF_ROLES = frozenset({Role.merchant, Role.admin})


@dataclass(frozen=True)
class Principal:
    """An authenticated, active user known by id and role only (no User row loaded)."""

    id: int
    role: str


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(11), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    nickname: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False, default=Role.customer.value)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Raised by logout, logout-all, a password change, disabling and a role change; access tokens carry the
    # version they were issued under and stop working once it moves on (app.users.revocation).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class RefreshToken(Base):
    """Only the SHA-256 of a refresh token is stored. Tokens of one login share a family; a rotated token
    used again means it leaked, and the whole family is revoked."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    family_id: Mapped[str] = mapped_column(String(32), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ThrottleHit(Base):
    """Counted attempts for rate limits when Redis is absent or down (shared by every server process)."""

    __tablename__ = "throttle_hits"
    __table_args__ = (Index("ix_throttle_hits_key_time", "key", "created_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)


class Address(TimestampMixin, Base):
    __tablename__ = "addresses"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    recipient: Mapped[str] = mapped_column(String(32), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    province: Mapped[str] = mapped_column(String(32), nullable=False)
    city: Mapped[str] = mapped_column(String(32), nullable=False)
    district: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str] = mapped_column(String(200), nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The province of an address saved before provinces were checked that maps to no division: kept as
    # typed, and refused at checkout until the customer chooses the province again.
    needs_correction: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
