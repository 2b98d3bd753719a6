"""The everyday commands: migrate, seed-demo, create-admin, serve, worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import alembic_config, with_cleanup
from app.config import get_settings


def migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Run the Alembic migrations (alembic upgrade head)."""
    from alembic import command

    command.upgrade(alembic_config(), revision)
    typer.echo(f"database migrated to {revision}")


def seed_demo() -> None:
    """Load the demo shop (idempotent)."""
    from app.cli.seed import seed_demo as run

    asyncio.run(with_cleanup(run()))
    typer.echo("demo data loaded")


def seed_scale(
    products: Annotated[int, typer.Option(min=0, help="products to add (2-3 SKUs each)")] = 10_000,
    orders: Annotated[int, typer.Option(min=0, help="orders to add, spread over the last year")] = 100_000,
    codes: Annotated[int, typer.Option(min=0, help="trace codes to add")] = 1_000_000,
    seed: Annotated[int | None, typer.Option(help="random seed, for a repeatable shop")] = None,
) -> None:
    """Add a shop of realistic size in bulk (adds on every run), to measure the shop at size."""
    import time

    from app.seed_scale import seed_scale as run

    started = time.perf_counter()
    last: dict[str, float] = {}

    def progress(label: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last.get(label, 0.0) >= 1.0:
            last[label] = now
            typer.echo(f"  {label}: {done:,}/{total:,} ({now - started:.0f} s)", err=True)

    report = asyncio.run(
        with_cleanup(run(products=products, orders=orders, codes=codes, seed=seed, progress=progress))
    )
    typer.echo(
        f"added {report.products:,} products ({report.skus:,} SKUs), {report.users:,} customers, "
        f"{report.orders:,} orders ({report.order_items:,} lines), {report.codes:,} trace codes "
        f"in {report.seconds:.0f} s"
    )


def recount_order_stats() -> None:
    """Recount the dashboard's orders per day and status from the orders themselves and correct them
    (after editing orders by hand, or a bulk load that bypassed the shop)."""
    import time

    from app.db import session_scope
    from app.orders import stats

    async def run() -> int:
        async with session_scope() as session:
            return await stats.repair(session)

    started = time.perf_counter()
    corrected = asyncio.run(with_cleanup(run()))
    typer.echo(
        f"recounted every order in {time.perf_counter() - started:.1f} s: {corrected} figures corrected"
    )


def create_admin(
    phone: Annotated[str, typer.Option(help="mobile number")],
    password: Annotated[str, typer.Option(help="8-128 characters", prompt=True, hide_input=True)],
    role: Annotated[str, typer.Option(help="admin or merchant")] = "admin",
) -> None:
    """Create (or promote) a staff account."""
    from pydantic import TypeAdapter, ValidationError

    from app.db import session_scope
    from app.users import service
    from app.users.models import Role
    from app.users.schemas import MobilePhone, Password

    try:
        TypeAdapter(MobilePhone).validate_python(phone)
        TypeAdapter(Password).validate_python(password)
        staff_role = Role(role)
    except (ValidationError, ValueError) as exc:
        typer.echo(f"invalid input: {exc}", err=True)
        raise typer.Exit(2) from exc
    if staff_role == Role.customer:
        typer.echo("role must be admin or merchant", err=True)
        raise typer.Exit(2)
    from app.users import passwords

    weak = passwords.problem(password, phone=phone)
    if weak is not None:
        typer.echo(f"invalid input: password: {weak}", err=True)
        raise typer.Exit(2)

    async def run() -> None:
        async with session_scope() as session:
            user = await service.create_admin(session, phone, password, staff_role)
            typer.echo(f"{staff_role.value} {user.phone} ready (id {user.id})")

    asyncio.run(with_cleanup(run()))


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="reload on code changes (development)")] = False,
) -> None:
    """Serve the shop with uvicorn."""
    from app.kit.logging import configure_logging

    configure_logging(get_settings().log_level)
    made = export_metrics_dir(workers=1 if reload else workers)
    try:
        _run_uvicorn(host, port, workers, reload)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def export_metrics_dir(*, workers: int) -> Path | None:
    """Give the processes about to start one PROMETHEUS_MULTIPROC_DIR (app.kit.metrics): the configured one,
    or with several server workers a fresh temporary one (returned, to be removed afterwards). Exported
    before uvicorn starts its workers, which read it when they import prometheus-client."""
    configured = get_settings().prometheus_multiproc_dir
    made = None
    if configured is None and workers > 1:
        configured = made = Path(tempfile.mkdtemp(prefix="daoxiang-metrics-"))
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(configured)
    return made


def _run_uvicorn(host: str, port: int, workers: int, reload: bool) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers if not reload else None,
        reload=reload,
        # app.kit.client alone decides the client address and https-ness (TRUST_FORWARDED_FOR and
        # FORWARDED_ALLOW_IPS): uvicorn must not rewrite them from forwarded headers first.
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )


def worker(
    once: Annotated[bool, typer.Option(help="run every job once and exit")] = False,
    interval: Annotated[
        float | None, typer.Option(help="seconds between ticks (WORKER_INTERVAL_SECONDS)")
    ] = None,
) -> None:
    """Run background jobs: order timeouts, auto-confirm, token purge, event relay, …"""
    from app.kit.logging import configure_logging
    from app.worker import run_due_jobs, run_forever

    configure_logging(get_settings().log_level)
    export_metrics_dir(workers=1)  # before app.worker imports the metrics
    if once:
        results = asyncio.run(with_cleanup(run_due_jobs(force=True)))
        for name, handled in sorted(results.items()):
            typer.echo(f"{name}: {handled}")
        raise typer.Exit(1 if any(v < 0 for v in results.values()) else 0)
    try:
        asyncio.run(with_cleanup(run_forever(interval or get_settings().worker_interval_seconds)))
    except KeyboardInterrupt:
        pass
