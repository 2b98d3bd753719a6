"""The everyday commands: migrate, seed-demo, create-admin, serve, worker."""

from __future__ import annotations

import asyncio
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
    import uvicorn

    from app.kit.logging import configure_logging

    configure_logging(get_settings().log_level)
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
    if once:
        results = asyncio.run(with_cleanup(run_due_jobs(force=True)))
        for name, handled in sorted(results.items()):
            typer.echo(f"{name}: {handled}")
        raise typer.Exit(1 if any(v < 0 for v in results.values()) else 0)
    try:
        asyncio.run(with_cleanup(run_forever(interval or get_settings().worker_interval_seconds)))
    except KeyboardInterrupt:
        pass
