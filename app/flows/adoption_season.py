"""Season end of the field adoptions (the rule the shop offers): when a plan's season is over (30 June of
the year after its harvest, Beijing), what each paid adopter has not drawn is shipped to their default
address as one last adoption_delivery order, once. It joins adoptions (what is left) with checkout (the
delivery order), so it is a flow; the worker runs it (app.worker JOBS)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from app.adoptions import service as adoptions_service
from app.checkout import adoption as adoption_checkout
from app.errors import AppError
from app.kit import regions
from app.users import repository as users_repository

log = logging.getLogger("daoxiang.adoptions")


async def ship_season_end(session: AsyncSession) -> int:
    """Ship what is left of every adoption whose season ended. Safe with several workers at once: each
    adoption's season end is claimed by a conditional UPDATE (`close_season`) that one caller wins, in a
    savepoint with its delivery order, so a failed delivery (no usable address, no stock) leaves the
    adoption as it was, to be tried again on the next run. Returns the adoptions closed."""
    closed = 0
    for adoption_id, user_id, kg_left in await adoptions_service.season_over(session):
        address_id = await _default_address(session, user_id)
        if address_id is None and kg_left > 0:
            log.warning("season end: adopter has no usable address", extra={"adoption_id": adoption_id})
            continue
        try:
            async with session.begin_nested():
                if not await adoptions_service.close_season(session, adoption_id, kg_left):
                    continue  # another worker closed it (or a delivery was drawn meanwhile)
                drawn = await adoptions_service.season_draw(session, adoption_id, kg_left)
                if drawn.bags > 0:
                    assert address_id is not None
                    await adoption_checkout.deliver(session, drawn, address_id, by_season_end=True)
        except AppError as refusal:
            log.warning(
                "season end: delivery refused", extra={"adoption_id": adoption_id, "code": refusal.code}
            )
            continue
        closed += 1
    return closed


async def _default_address(session: AsyncSession, user_id: int) -> int | None:
    """The adopter's default address (else their newest) with a province the shop ships to."""
    for address in await users_repository.list_addresses(session, user_id):
        if not address.needs_correction and regions.canonical(address.province) is not None:
            return address.id
    return None
