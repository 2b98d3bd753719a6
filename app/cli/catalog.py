"""`daoxiang import-products FILE`: the bulk import with a progress bar (the import itself is
app/catalog/importer.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from app.cli.common import with_cleanup


def import_products_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="a .csv or .xlsx file"),
) -> None:
    """Import products from CSV/XLSX (one row per SKU): all or nothing, every bad row reported."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.catalog.importer import ImportFailed, import_products

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("checking rows", total=None)

        def planned(total: int) -> None:
            progress.update(task, description="importing products", total=total, completed=0)

        def created() -> None:
            progress.advance(task)

        try:
            ids = asyncio.run(with_cleanup(import_products(file, on_planned=planned, on_created=created)))
        except ImportFailed as exc:
            progress.stop()
            console.print(f"[red]Nothing imported: {len(exc.problems)} problem(s) in {file.name}[/red]")
            for problem in exc.problems:
                console.print(f"  {problem}", markup=False, highlight=False)
            raise typer.Exit(1) from None
    typer.echo(f"imported {len(ids)} product(s) from {file.name}")


def search_index_command(
    full: bool = typer.Option(False, "--full", help="rebuild every row, not only those out of step"),
) -> None:
    """Bring the products' full-text index (Mroonga) in step with the products; reports how many rows it
    rebuilt (creates the index first when Mroonga was enabled after the migrations ran). Nothing to do on
    SQLite (triggers keep FTS5 in step) or without Mroonga (LIKE search)."""
    from app.catalog import search_index
    from app.db import session_scope

    async def run() -> tuple[str, int]:
        async with session_scope() as session:
            created = await search_index.create_if_missing(session)
            kind = await search_index.kind(session)
            fixed = await search_index.sync(session, full=full or created)
            if fixed:
                from app.catalog import cache

                cache.invalidate(session)
            return kind, fixed

    kind, fixed = asyncio.run(with_cleanup(run()))
    typer.echo(f"search index: {kind}; {fixed:,} row(s) rebuilt")
