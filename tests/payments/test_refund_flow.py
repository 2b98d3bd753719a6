"""Where a refund is decided, and the unit of work around the gateway call (issue 14: payments sit above
orders, as in polar's refund/service.py; the refund is decision → gateway call → outcome)."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


class TestImportDirection:
    def test_orders_never_import_payments_not_even_inside_a_function(self):
        offenders = {
            str(path.relative_to(APP)): sorted(
                n for n in _imported_modules(path) if n.startswith("app.payments")
            )
            for path in (APP / "orders").rglob("*.py")
        }
        assert {k: v for k, v in offenders.items() if v} == {}

    def test_the_payment_modules_never_commit_on_their_own(self):
        """The request's (or the job's) unit of work commits; a step that must be durable before a gateway
        call runs in a unit of work of its own (app.db.session_scope)."""
        commits = [
            f"{path.relative_to(APP)}:{node.lineno}"
            for path in sorted((APP / "payments").rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"
        ]
        assert commits == []
