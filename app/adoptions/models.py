from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class AdoptionPlan(TimestampMixin, Base):
    """One plot's season offered as `shares` shares at `share_price_fen`, each worth `yield_kg_per_share` kg
    of milled rice. `shares_left` is what remains to adopt (checkout takes from it with a conditional UPDATE,
    guarded by CHECK (shares_left >= 0)). `sku_id`: the bag the adopters' rice ships in (the plot's product's
    lightest active SKU with a weight, chosen at creation); a delivery of `kg` is kg*1000/weight_g bags.
    `season_ends_at`: after it, what an adopter has left is shipped to their default address (once)."""

    __tablename__ = "adoption_plans"
    __table_args__ = (
        CheckConstraint("shares_left >= 0", name="shares_left_not_negative"),
        CheckConstraint("shares_left <= shares", name="shares_left_within_shares"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plot_id: Mapped[int] = mapped_column(
        ForeignKey("plots.id", ondelete="RESTRICT"), index=True, nullable=False
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    season: Mapped[str] = mapped_column(String(4), nullable=False)
    shares: Mapped[int] = mapped_column(Integer, nullable=False)
    shares_left: Mapped[int] = mapped_column(Integer, nullable=False)
    share_price_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    yield_kg_per_share: Mapped[int] = mapped_column(Integer, nullable=False)
    season_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    created_by: Mapped[int | None] = mapped_column(BigId, nullable=True)


class Adoption(Base):
    """One adoption order's shares: `kg_total` kg of the plan's harvest, `kg_delivered` of it requested so
    far (a conditional UPDATE, never beyond kg_total). Counts as the adopter's once its order is paid;
    `released_at` is set once when its order ends unpaid (the shares go back to the plan);
    `season_closed_at` once when the season-end job shipped what was left."""

    __tablename__ = "adoptions"
    __table_args__ = (
        CheckConstraint("kg_delivered >= 0 AND kg_delivered <= kg_total", name="kg_delivered_within_total"),
        Index("ix_adoptions_plan_id_user_id", "plan_id", "user_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign keys on purpose (as flash_sale_purchases): InnoDB's shared lock on the plan's row would let
    # two checkouts deadlock when both then take shares from it.
    plan_id: Mapped[int] = mapped_column(BigId, nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, index=True, nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, unique=True, nullable=False)
    shares: Mapped[int] = mapped_column(Integer, nullable=False)
    kg_total: Mapped[int] = mapped_column(Integer, nullable=False)
    kg_delivered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    season_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class AdoptionDelivery(Base):
    """One draw on an adoption: an `adoption_delivery` order of `kg` kg from the plot's batch `batch_id`
    (None when the plot had no batch of the plan's product)."""

    __tablename__ = "adoption_deliveries"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    adoption_id: Mapped[int] = mapped_column(
        ForeignKey("adoptions.id", ondelete="CASCADE"), index=True, nullable=False
    )
    order_id: Mapped[int] = mapped_column(BigId, unique=True, nullable=False)
    kg: Mapped[int] = mapped_column(Integer, nullable=False)
    batch_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    by_season_end: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
