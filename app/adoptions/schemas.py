from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictInt, StringConstraints

from app.kit.schemas import InputModel, OutputModel
from app.orders.schemas import Id

Season = Annotated[str, StringConstraints(pattern=r"^20\d\d$")]


class AdoptionPlanCreate(InputModel):
    plot_id: Id = Field(description="a traceability plot (GET /api/admin/producers/{id}/plots)", examples=[3])
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        examples=["五常民乐乡一亩田 2026"]
    )
    season: Season = Field(
        description="the harvest year; the season ends on 30 June of the next year (Beijing): what an adopter"
        " has left then is shipped to their default address",
        examples=["2026"],
    )
    shares: Annotated[StrictInt, Field(ge=1, le=100_000)] = Field(examples=[100])
    share_price_fen: Annotated[StrictInt, Field(ge=0, le=100_000_000)] = Field(examples=[198_000])
    yield_kg_per_share: Annotated[StrictInt, Field(ge=1, le=10_000)] = Field(examples=[50])


class AdoptionPlanRead(OutputModel):
    id: int
    plot_id: int
    sku_id: int
    name: str
    season: str
    shares: int
    shares_left: int
    share_price_fen: int
    yield_kg_per_share: int
    season_ends_at: datetime


class PlotEvent(OutputModel):
    """A batch event of the plot, as the adopter follows it (photo where one was taken)."""

    batch_no: str
    type: str
    occurred_at: datetime
    location: str
    details: dict[str, Any]
    photo_url: str | None


class AdoptionPlanDetail(AdoptionPlanRead):
    plot: dict[str, Any] = Field(description="the plot, its producer (name, region, licence)")
    events: list[PlotEvent]
    certificates: list[dict[str, Any]] = Field(description="the producer's certificates")


class AdoptCreate(InputModel):
    shares: Annotated[StrictInt, Field(ge=1, le=999)] = Field(examples=[2])
    address_id: Id = Field(examples=[3])


class DeliveryRead(OutputModel):
    order_id: int
    kg: int
    batch_no: str | None
    by_season_end: bool
    created_at: datetime


class AdoptionRead(OutputModel):
    id: int
    plan_id: int
    plan_name: str
    order_id: int
    shares: int
    kg_total: int
    kg_left: int
    season_ends_at: datetime
    events: list[PlotEvent]
    deliveries: list[DeliveryRead]


class DeliveryCreate(InputModel):
    kg: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = Field(examples=[10])
    address_id: Id = Field(examples=[3])
