"""`daoxiang payments …`: payment channel commands (the checks themselves are app/payments/checks.py)."""

from __future__ import annotations

import typer

payments = typer.Typer(help="Payment channels.", no_args_is_help=True)


@payments.command("check")
def check() -> None:
    """Print each channel's configuration problems (keys load, serials match, URLs are HTTPS and public)
    without calling any gateway. Exit status 1 when a configured channel has a problem."""
    from app.config import get_settings
    from app.payments.checks import check_all

    failed = False
    for channel, problems in check_all(get_settings()).items():
        if problems is None:
            typer.echo(f"{channel}: not configured")
        elif problems:
            failed = True
            typer.echo(f"{channel}: {len(problems)} problem(s)")
            for problem in problems:
                typer.echo(f"  - {problem}")
        else:
            typer.echo(f"{channel}: ok")
    raise typer.Exit(1 if failed else 0)
