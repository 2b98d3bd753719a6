"""Short modules (docs/architecture.md, "Module size"): a module under app/ longer than MAX_LINES splits along
its seams, or says at its top why it stays one, with a line of its docstring starting `Long because:`."""

from __future__ import annotations

import ast
from pathlib import Path

from app.config import PROJECT_ROOT

APP_DIR = PROJECT_ROOT / "app"
MAX_LINES = 500
MARKER = "Long because:"


def _line_count(text: str) -> int:
    return len(text.splitlines())


def _states_why_long(text: str) -> bool:
    docstring = ast.get_docstring(ast.parse(text)) or ""
    return any(line.strip().startswith(MARKER) and line.strip() != MARKER for line in docstring.splitlines())


def _too_long(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return _line_count(text) > MAX_LINES and not _states_why_long(text)


def test_no_module_is_long_without_a_stated_reason():
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)} ({_line_count(path.read_text(encoding='utf-8'))} lines)"
        for path in sorted(APP_DIR.rglob("*.py"))
        if _too_long(path)
    ]
    assert offenders == [], (
        f"split these along their seams, or start a line of the module docstring with {MARKER!r}: {offenders}"
    )


class TestTheCheckItself:
    def test_a_long_module_without_a_reason_is_found(self, tmp_path):
        path = tmp_path / "long.py"
        path.write_text('"""A module."""\n' + "x = 1\n" * MAX_LINES, encoding="utf-8")
        assert _too_long(path)

    def test_a_long_module_with_a_reason_passes(self, tmp_path):
        path = tmp_path / "long.py"
        path.write_text(
            '"""A module.\n\nLong because: one table of data.\n"""\n' + "x = 1\n" * MAX_LINES,
            encoding="utf-8",
        )
        assert not _too_long(path)

    def test_the_marker_alone_or_outside_the_docstring_is_no_reason(self, tmp_path):
        for head in ('"""A module.\n\nLong because:\n"""\n', '"""A module."""\n# Long because: hidden\n'):
            path = tmp_path / "long.py"
            path.write_text(head + "x = 1\n" * MAX_LINES, encoding="utf-8")
            assert _too_long(path)

    def test_a_module_of_exactly_the_limit_passes(self, tmp_path):
        path = tmp_path / "short.py"
        path.write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
        assert not _too_long(path)
