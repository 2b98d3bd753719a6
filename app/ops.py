"""Operator commands: start/stop/status/smoke. Filled in by the operations work (issue 2)."""

import typer


def register(cli: typer.Typer) -> None:
    return None
