"""Plain factory functions with keyword overrides for field adoption: a plot that grows a product (a batch of
it, with events), a plan made by staff as the API does, adopting through the API and paying."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from app.adoptions import service as adoptions_service
from app.adoptions.models import Adoption, AdoptionPlan
from app.adoptions.schemas import AdoptionPlanCreate
from app.catalog.models import Sku
from app.db import session_scope
from app.traceability.models import Batch, Plot, Producer
from app.users.models import Address, User
from tests.catalog.factories import create_product, create_sku
from tests.orders.factories import pay, staff
from tests.traceability.factories import create_batch, create_event, create_plot, create_producer
from tests.users.factories import auth


@dataclass
class Farm:
    producer: Producer
    plot: Plot
    batch: Batch
    sku: Sku  # the 5 kg bag the adopters' rice ships in


async def field(*, stock: int = 1000, with_events: bool = True) -> Farm:
    """A producer's plot with a batch of a published product sold in 5 kg (and 10 kg) bags, and the batch's
    planting and harvest events."""
    producer = await create_producer()
    plot = await create_plot(producer)
    product = await create_product(skus=[])
    bag = await create_sku(product, name="5kg 真空包装", weight_g=5000, stock=stock)
    await create_sku(product, name="10kg 礼盒", weight_g=10000, stock=stock)
    batch = await create_batch(product=product, producer=producer, plot=plot)
    if with_events:
        await create_event(batch, type="planted", location="民乐乡稻田")
        await create_event(batch, type="harvested")
    return Farm(producer, plot, batch, bag)


async def create_plan(plot: Plot, **overrides: Any) -> AdoptionPlan:
    fields: dict[str, Any] = dict(
        plot_id=plot.id,
        name="五常民乐乡一亩田 2026",
        season="2026",
        shares=10,
        share_price_fen=198_000,
        yield_kg_per_share=50,
    )
    fields.update(overrides)
    async with session_scope() as session:
        return await adoptions_service.create_plan(session, await staff(), AdoptionPlanCreate(**fields))


async def adopt(
    client: httpx.AsyncClient, user: User, address: Address, plan: AdoptionPlan | int, shares: int = 1
) -> httpx.Response:
    plan_id = plan if isinstance(plan, int) else plan.id
    return await client.post(
        f"/api/adoption-plans/{plan_id}/adopt",
        json={"shares": shares, "address_id": address.id},
        headers=auth(user),
    )


async def adopted(
    client: httpx.AsyncClient, user: User, address: Address, plan: AdoptionPlan, shares: int = 1
) -> int:
    """A paid adoption of `shares`: its id."""
    response = await adopt(client, user, address, plan, shares)
    assert response.status_code == 201, response.text
    await pay(response.json()["id"])
    async with session_scope() as session:
        return (
            await session.execute(select(Adoption.id).where(Adoption.order_id == response.json()["id"]))
        ).scalar_one()


async def deliver(
    client: httpx.AsyncClient, user: User, address: Address, adoption_id: int, kg: int
) -> httpx.Response:
    return await client.post(
        f"/api/users/me/adoptions/{adoption_id}/deliveries",
        json={"kg": kg, "address_id": address.id},
        headers=auth(user),
    )


async def shares_left(plan_id: int) -> int:
    async with session_scope() as session:
        return (
            await session.execute(select(AdoptionPlan.shares_left).where(AdoptionPlan.id == plan_id))
        ).scalar_one()


async def adoption_row(adoption_id: int) -> Adoption:
    async with session_scope() as session:
        return (await session.execute(select(Adoption).where(Adoption.id == adoption_id))).scalar_one()
