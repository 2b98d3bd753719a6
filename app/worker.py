"""Background jobs: `daoxiang worker` runs whatever is due.

Each domain writes its jobs as plain functions in its tasks.py; JOBS below lists every one of them with
its schedule, explicitly (a new job is one line here). This module sits on top of the domains, beside
app/main.py: it imports them, they never import it.

Jobs must be safe when several workers run at once (conditional updates or SKIP LOCKED claims): the
runner does not coordinate workers, the data does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import tasks as catalog_tasks
from app.db import session_scope
from app.eventbus import tasks as eventbus_tasks
from app.flash_sales import tasks as flash_sales_tasks
from app.flows import adoption_season, order_kinds, presale_balance
from app.kit import metrics
from app.orders import tasks as orders_tasks
from app.payments import tasks as payments_tasks
from app.presales import tasks as presales_tasks
from app.reviews import tasks as reviews_tasks
from app.subscriptions import tasks as subscriptions_tasks
from app.traceability import tasks as traceability_tasks
from app.users import tasks as users_tasks
from app.webhooks import tasks as webhooks_tasks

log = logging.getLogger("daoxiang.worker")

JobFunc = Callable[[AsyncSession], Awaitable[int]]


@dataclass
class Job:
    name: str
    func: JobFunc
    every_seconds: float | None = None  # None: every worker tick
    last_run: float = field(default=0.0)


HOUR = 3600.0

# Every background job, in the order a tick runs them. every_seconds None: every worker tick.
JOBS: list[Job] = [
    Job("users.purge_expired_tokens", users_tasks.purge_expired_tokens, every_seconds=HOUR),
    Job("orders.cancel_unpaid", orders_tasks.cancel_unpaid),
    Job("orders.auto_confirm", orders_tasks.auto_confirm, every_seconds=300),
    Job("orders.fold_stats", orders_tasks.fold_stats),
    Job("orders.run_exports", orders_tasks.run_exports),
    Job("orders.purge_idempotency_keys", orders_tasks.purge_idempotency_keys, every_seconds=HOUR),
    Job("flash_sales.close_ended", flash_sales_tasks.close_ended),
    Job("flash_sales.reconcile_gates", flash_sales_tasks.reconcile_gates, every_seconds=30),
    Job("subscriptions.run", subscriptions_tasks.run, every_seconds=60),
    Job("adoptions.ship_season_end", adoption_season.ship_season_end, every_seconds=HOUR),
    Job("presales.notify_balance_open", presales_tasks.notify_balance_open, every_seconds=60),
    Job("presales.cancel_unpaid_balances", presale_balance.cancel_unpaid_balances, every_seconds=60),
    Job("reviews.auto_positive", reviews_tasks.auto_positive, every_seconds=300),
    Job("payments.reconcile", payments_tasks.reconcile, every_seconds=60),
    Job("payments.retry_refunds", payments_tasks.retry_refunds, every_seconds=60),
    Job("payments.purge_notifications", payments_tasks.purge_notifications, every_seconds=HOUR),
    Job("payments.close_abandoned", payments_tasks.close_abandoned, every_seconds=60),
    Job("events.relay", eventbus_tasks.relay_events),
    Job("events.purge_published", eventbus_tasks.purge_published_events, every_seconds=HOUR),
    Job("events.purge_processed", eventbus_tasks.purge_processed_events, every_seconds=HOUR),
    Job("webhooks.fan_out", eventbus_tasks.fan_out_webhooks),
    Job("webhooks.deliver", webhooks_tasks.deliver_due),
    Job("webhooks.purge_log", webhooks_tasks.purge_log, every_seconds=HOUR),
    Job(
        "traceability.warn_expiring_certificates",
        traceability_tasks.warn_expiring_certificates,
        every_seconds=HOUR,
    ),
    Job("traceability.process_code_runs", traceability_tasks.process_code_runs),
    Job("traceability.flush_scans", traceability_tasks.flush_scans),
    Job("traceability.purge_scan_flushes", traceability_tasks.purge_scan_flushes, every_seconds=HOUR),
    Job("traceability.sweep_files", traceability_tasks.sweep_files, every_seconds=HOUR),
    Job("catalog.sweep_media", catalog_tasks.sweep_media, every_seconds=HOUR),
    Job("catalog.sync_search_index", catalog_tasks.sync_search_index, every_seconds=600),
]

_BY_NAME: dict[str, Job] = {job_.name: job_ for job_ in JOBS}
assert len(_BY_NAME) == len(JOBS), "two jobs share a name"


# Work that runs continuously beside the ticks (the event relay keeps up with checkout this way); a loop
# runs until `stop` is set and outlives its own failures. A job of the same name is the loop's one-shot
# form (for `daoxiang worker --once`): skipped by the ticks while the loop runs.
LoopFunc = Callable[[asyncio.Event], Awaitable[None]]
LOOPS: dict[str, LoopFunc] = {
    "events.relay": eventbus_tasks.relay_continuously,
    "orders.run_exports": orders_tasks.run_exports_continuously,
    "webhooks.deliver": webhooks_tasks.deliver_continuously,
}


def registered_loops() -> dict[str, LoopFunc]:
    return LOOPS


def registered_jobs() -> dict[str, Job]:
    return _BY_NAME


async def run_job(name: str) -> int:
    """Run one job in its own transaction; returns how many things it handled."""
    job_ = registered_jobs()[name]
    order_kinds.install()  # the order kinds' releases, before any job cancels an order
    started = time.perf_counter()
    try:
        async with session_scope() as session:
            handled = await job_.func(session)
    except Exception:
        metrics.JOB_FAILURES.labels(name).inc()
        raise
    finally:
        metrics.JOB_RUNS.labels(name).inc()
        metrics.JOB_DURATION.labels(name).observe(time.perf_counter() - started)
    job_.last_run = time.monotonic()
    if handled:
        log.info("job done", extra={"job": name, "handled": handled})
    return handled


async def run_due_jobs(*, force: bool = False, skip: frozenset[str] = frozenset()) -> dict[str, int]:
    results: dict[str, int] = {}
    now = time.monotonic()
    for name, job_ in registered_jobs().items():
        if name in skip:
            continue
        if not force and job_.every_seconds and job_.last_run and now - job_.last_run < job_.every_seconds:
            continue
        try:
            results[name] = await run_job(name)
        except Exception:
            log.exception("job failed", extra={"job": name})
            results[name] = -1
    return results


async def run_forever(interval_seconds: float, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loops = registered_loops()
    log.info(
        "worker started",
        extra={
            "jobs": sorted(registered_jobs()),
            "loops": sorted(loops),
            "interval_seconds": interval_seconds,
        },
    )
    tasks = [asyncio.create_task(func(stop), name=name) for name, func in loops.items()]
    try:
        while not stop.is_set():
            await run_due_jobs(skip=frozenset(loops))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            except TimeoutError:
                pass
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
