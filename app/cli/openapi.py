"""`daoxiang openapi`: write the schema the app serves to docs/openapi.yaml (a test keeps them equal)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from app.config import PROJECT_ROOT

OPENAPI_PATH = PROJECT_ROOT / "docs" / "openapi.yaml"


def current_schema() -> dict[str, Any]:
    from app.main import create_app

    return create_app().openapi()


def render_yaml(schema: dict[str, Any]) -> str:
    return yaml.safe_dump(schema, allow_unicode=True, sort_keys=False, width=100)


def openapi(
    output: Annotated[Path, typer.Option(help="where to write the YAML ('-' for stdout)")] = OPENAPI_PATH,
) -> None:
    """Write the OpenAPI schema as YAML (run it after changing any route)."""
    text = render_yaml(current_schema())
    if str(output) == "-":
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
