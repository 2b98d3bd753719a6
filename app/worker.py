"""Background jobs. Each domain registers its jobs in its tasks.py; `daoxiang worker` runs whatever is due.

Jobs must be safe when several workers run at once (conditional updates or SKIP LOCKED claims): the
runner does not coordinate workers, the data does.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope

log = logging.getLogger("daoxiang.worker")

JobFunc = Callable[[AsyncSession], Awaitable[int]]

# Modules whose import registers jobs.
TASK_MODULES = [
    "app.users.tasks",
    "app.orders.tasks",
    "app.payments.tasks",
    "app.eventbus.tasks",
    "app.traceability.tasks",
]


@dataclass
class Job:
    name: str
    func: JobFunc
    every_seconds: float | None = None  # None: every worker tick
    last_run: float = field(default=0.0)


_JOBS: dict[str, Job] = {}
# Work that runs continuously beside the ticks (the event relay keeps up with checkout this way); a loop
# runs until `stop` is set and outlives its own failures. A job of the same name is the loop's one-shot
# form (for `daoxiang worker --once`): skipped by the ticks while the loop runs.
LoopFunc = Callable[[asyncio.Event], Awaitable[None]]
_LOOPS: dict[str, LoopFunc] = {}


def job(name: str, every_seconds: float | None = None) -> Callable[[JobFunc], JobFunc]:
    def register(func: JobFunc) -> JobFunc:
        _JOBS[name] = Job(name=name, func=func, every_seconds=every_seconds)
        return func

    return register


def loop(name: str) -> Callable[[LoopFunc], LoopFunc]:
    def register(func: LoopFunc) -> LoopFunc:
        _LOOPS[name] = func
        return func

    return register


def registered_loops() -> dict[str, LoopFunc]:
    registered_jobs()
    return _LOOPS


def registered_jobs() -> dict[str, Job]:
    for module in TASK_MODULES:
        importlib.import_module(module)
    return _JOBS


async def run_job(name: str) -> int:
    """Run one job in its own transaction; returns how many things it handled."""
    job_ = registered_jobs()[name]
    async with session_scope() as session:
        handled = await job_.func(session)
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
