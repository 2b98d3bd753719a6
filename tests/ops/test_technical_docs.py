"""docs/technical (the original description's layout): the data model is generated from the models and must be
current; every page the index names exists."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli.datamodel import DATA_MODEL_PATH, render
from app.db import Base

ROOT = Path(__file__).resolve().parents[2]


def test_the_data_model_page_is_current():
    assert DATA_MODEL_PATH.read_text(encoding="utf-8") == render(), (
        "docs/technical/data-model.md is stale: run `daoxiang data-model` (in a worktree: python -m app.cli data-model)"
    )


def test_the_data_model_names_every_table_and_column():
    text = DATA_MODEL_PATH.read_text(encoding="utf-8")
    for table in Base.metadata.tables.values():
        assert f"## {table.name}\n" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text


def test_every_page_the_index_links_exists():
    index = ROOT / "docs" / "technical" / "README.md"
    for link in re.findall(r"\]\(([^)#]+)\)", index.read_text(encoding="utf-8")):
        assert (index.parent / link).resolve().exists(), link
    assert (ROOT / "docs" / "status" / "README.md").exists()
