"""`daoxiang data-model`: docs/technical/data-model.md, written from the models themselves (every table, its
columns with their MariaDB types, keys and indexes, and the model's own description), so the page cannot drift
from the schema: tests/ops/test_technical_docs.py fails when it is stale, like docs/openapi.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Column, Table
from sqlalchemy.dialects import mysql

DATA_MODEL_PATH = Path(__file__).resolve().parents[2] / "docs" / "technical" / "data-model.md"

HEADER = """# Data model (数据模型)

Generated from the models by `daoxiang data-model` (in a worktree: `python -m app.cli data-model`); do not edit
by hand. Every table belongs to one domain (its package under `app/`); schema changes go only through Alembic
migrations (`alembic/versions/`), and `tests/test_migrations.py` checks that the migrations build exactly these
tables. Money columns end in `_fen` (integer fen); times are UTC (`DATETIME(6)`).
"""


def _describe(table: Table) -> tuple[str, str]:
    """The table's domain and the first line of its model's docstring."""
    from app.db import Base

    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            cls = mapper.class_
            domain = cls.__module__.removeprefix("app.").split(".")[0]
            doc = (cls.__doc__ or "").strip().split("\n\n")[0]
            return domain, " ".join(doc.split())
    return "-", ""


def _type(column: Column) -> str:
    try:
        return str(column.type.compile(dialect=mysql.dialect()))
    except Exception:  # a type MariaDB cannot name here: its generic name
        return type(column.type).__name__


def _column_row(column: Column) -> str:
    notes = []
    if column.primary_key:
        notes.append("PK")
    notes.extend(f"→ {fk.target_fullname}" for fk in column.foreign_keys)
    if column.unique:
        notes.append("unique")
    nullable = "yes" if column.nullable and not column.primary_key else "no"
    return f"| `{column.name}` | {_type(column)} | {nullable} | {' '.join(notes)} |"


def render() -> str:
    import app.models  # noqa: F401  (every domain's tables)
    from app.db import Base

    tables = sorted(Base.metadata.tables.values(), key=lambda t: (_describe(t)[0], t.name))
    lines = [HEADER, "| table | domain | what it holds |", "|---|---|---|"]
    for table in tables:
        domain, doc = _describe(table)
        lines.append(f"| [`{table.name}`](#{table.name}) | {domain} | {doc.split('. ')[0].rstrip('.')} |")
    for table in tables:
        domain, doc = _describe(table)
        lines += ["", f"## {table.name}", "", f"Domain `app.{domain}`." + (f" {doc}" if doc else ""), ""]
        lines += ["| column | type | null | keys |", "|---|---|---|---|"]
        lines += [_column_row(column) for column in table.columns]
        indexes = sorted(table.indexes, key=lambda i: i.name or "")
        uniques = [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
        if indexes or uniques:
            lines.append("")
            for index in indexes:
                kind = "unique index" if index.unique else "index"
                cols = ", ".join(str(getattr(c, "name", c)) for c in index.expressions)
                lines.append(f"- {kind} `{index.name}` ({cols})")
            for unique in sorted(uniques, key=lambda u: u.name or ""):
                lines.append(f"- unique `{unique.name}` ({', '.join(c.name for c in unique.columns)})")
    return "\n".join(lines) + "\n"


def data_model(
    output: Annotated[Path, typer.Option(help="where to write the page ('-' for stdout)")] = DATA_MODEL_PATH,
) -> None:
    """Write docs/technical/data-model.md from the models (run it after a migration)."""
    text = render()
    if str(output) == "-":
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
