"""The `daoxiang` command. Shell and PowerShell scripts stay thin: the logic lives here.

This package owns every command; the modules below it hold the commands, grouped by what they operate
(core: migrate/seed/serve/worker; lifecycle: start/stop; status; smoke; events; catalog; payments; openapi; datamodel).
Domains never import the CLI: a command calls into a domain, not the other way round.
"""

from __future__ import annotations

import typer

from app.cli import backup, catalog, core, datamodel, events, lifecycle, openapi, smoke, status
from app.cli.common import alembic_config
from app.cli.payments import payments

cli = typer.Typer(
    help="稻香 Daoxiang: serve, migrate and operate the shop.", no_args_is_help=True, add_completion=False
)

cli.command()(core.migrate)
cli.command("seed-demo")(core.seed_demo)
cli.command("seed-scale")(core.seed_scale)
cli.command("recount-order-stats")(core.recount_order_stats)
cli.command("create-admin")(core.create_admin)
cli.command()(core.serve)
cli.command()(core.worker)
cli.command()(lifecycle.start)
cli.command()(lifecycle.stop)
cli.command()(status.status)
cli.command()(smoke.smoke)
cli.command()(events.consume)
cli.command("relay-events")(events.relay_events)
cli.command("event-schemas")(events.event_schemas)
cli.command()(openapi.openapi)
cli.command("data-model")(datamodel.data_model)
cli.command("import-products")(catalog.import_products_command)
cli.command("search-index")(catalog.search_index_command)
cli.command()(backup.backup)
cli.command()(backup.restore)
cli.add_typer(payments, name="payments")


def main() -> None:
    cli()


__all__ = ["alembic_config", "cli", "main"]
