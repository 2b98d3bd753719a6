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


@payments.command("fetch-certificates")
def fetch_certificates(
    pem: bool = typer.Option(False, "--pem", help="Also print each certificate (PEM)."),
) -> None:
    """Download WeChat Pay's platform certificates (/v3/certificates), verify them (APIv3 key, validity,
    the answer's signature) and store the new ones: notices signed under them are accepted without a
    change of settings. Run it daily in certificate mode (and when WeChat Pay announces a rotation)."""
    import asyncio

    from app.cli.common import with_cleanup
    from app.errors import AppError
    from app.payments import service

    try:
        results = asyncio.run(with_cleanup(service.fetch_platform_certificates()))
    except AppError as exc:
        typer.echo(f"wechat: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    for cert, new in results:
        state = "new" if new else "known"
        typer.echo(
            f"wechat: {cert.serial} {state}, valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}"
        )
        if pem:
            typer.echo(cert.pem)
    if not results:
        typer.echo("wechat: no current certificate in the answer", err=True)
        raise typer.Exit(1)
