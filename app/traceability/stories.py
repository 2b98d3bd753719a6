"""A product's story for its page: its batches (producer, plot, dates, events in brief) and certificates."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.traceability import repository
from app.traceability.certificates import certificate_file_url, certificate_status
from app.traceability.models import (
    BatchEvent,
)
from app.traceability.service import local_time

# For the catalogue's product detail


async def product_story(session: AsyncSession, product_id: int, *, max_batches: int = 10) -> dict[str, Any]:
    """A product's batches (producer, plot, dates, events in brief) and certificates, JSON-ready."""
    batches = await repository.batches_of_product(session, product_id, max_batches)
    producers = await repository.producers_by_ids(session, {b.producer_id for b in batches})
    plots = await repository.plots_by_ids(session, {b.plot_id for b in batches if b.plot_id})
    batch_events = await repository.list_events(session, [b.id for b in batches])
    events_of: dict[int, list[BatchEvent]] = defaultdict(list)
    for e in batch_events:
        events_of[e.batch_id].append(e)
    certs = await repository.certificates_for(
        session,
        product_ids={product_id},
        batch_ids={b.id for b in batches},
        producer_ids=set(producers),
    )

    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    story_batches = []
    for b in batches:
        producer, plot = producers[b.producer_id], plots.get(b.plot_id) if b.plot_id else None
        story_batches.append(
            {
                "id": b.id,
                "batch_no": b.batch_no,
                "variety": b.variety,
                "producer": {
                    "id": producer.id,
                    "name": producer.name,
                    "region": producer.region,
                    "license_no": producer.license_no,
                },
                "plot": (
                    {
                        "name": plot.name,
                        "village": plot.village,
                        "area_mu": str(plot.area_mu) if plot.area_mu is not None else None,
                    }
                    if plot
                    else None
                ),
                "planted_on": iso(b.planted_on),
                "harvested_on": iso(b.harvested_on),
                "milled_on": iso(b.milled_on),
                "packed_on": iso(b.packed_on),
                "best_before_on": iso(b.best_before_on),
                "events": [
                    {"type": e.type, "occurred_at": local_time(e).isoformat(), "location": e.location}
                    for e in events_of[b.id]
                ],
            }
        )
    story_certs = []
    for c in certs:
        status = certificate_status(c)
        story_certs.append(
            {
                "id": c.id,
                "kind": c.kind,
                "number": c.number,
                "issuer": c.issuer,
                "valid_from": c.valid_from.isoformat(),
                "valid_until": c.valid_until.isoformat(),
                "status": status,
                "expired": status == "expired",
                "file_url": certificate_file_url(c),
            }
        )
    return {"batches": story_batches, "certificates": story_certs}
