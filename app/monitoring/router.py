"""`GET /metrics`: every process's counters (app.kit.metrics) and the outbox backlog, read at scrape time.

Only for `Authorization: Bearer <METRICS_TOKEN>`. Without the setting, or with any other token, the answer
is the same 404 as for a path that does not exist: a scraper is configured once, and nobody else needs to
learn that the endpoint is there.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from app.config import get_settings
from app.db import get_sessionmaker, utcnow
from app.errors import NotFound
from app.events import OutboxEvent
from app.kit import metrics

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


class _Figures:
    """A collector of figures already read (prometheus-client collects synchronously)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _authorised(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def outbox_backlog() -> list[Metric]:
    """Events not yet published, and how long the oldest of them has waited (the relay's lag)."""
    try:
        async with get_sessionmaker()() as session:
            pending, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxEvent.occurred_at)).where(
                        OutboxEvent.published_at.is_(None)
                    )
                )
            ).one()
    except Exception:  # noqa: BLE001 - the counters are still worth answering without the database
        log.warning("outbox backlog unreadable for /metrics", exc_info=True)
        return []
    lag = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
    return [
        GaugeMetricFamily("daoxiang_outbox_pending_events", "Outbox events not yet published", value=pending),
        GaugeMetricFamily(
            "daoxiang_outbox_relay_lag_seconds", "Age of the oldest unpublished outbox event", value=lag
        ),
    ]


@router.get("/metrics", include_in_schema=False)
async def metrics_text(request: Request) -> Response:
    token = get_settings().metrics_token
    if token is None or not _authorised(request.headers.get("authorization"), token):
        raise NotFound("Not found.")
    body = metrics.exposition(_Figures(await outbox_backlog()))
    return Response(body, media_type=metrics.CONTENT_TYPE)
