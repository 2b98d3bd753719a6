"""Capture the SQL a request runs and judge each SELECT's plan (EXPLAIN FORMAT=JSON on MariaDB)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import event

from app.db import get_engine

# A plan may scan or sort this many rows of a table; beyond it the cost grows with the shop.
LARGE_ROWS = 2000


@contextlib.contextmanager
def captured_sql() -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT run through the app's engine inside the block, with its parameters."""
    statements: list[tuple[str, Any]] = []
    sync_engine = get_engine().sync_engine

    def remember(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(sync_engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(sync_engine, "before_cursor_execute", remember)


def _tables(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        table = node.get("table")
        # A derived table (<derived2>) is the bounded result of a subquery, whose own plan is judged too.
        if isinstance(table, dict) and not str(table.get("table_name", "<")).startswith("<"):
            yield table
        for value in node.values():
            yield from _tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tables(value)


def _sorts(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("filesort", "read_sorted_file", "temporary_table"):
                yield key, value
            yield from _sorts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _sorts(value)


def plan_problems(plan: dict[str, Any]) -> list[str]:
    """What is wrong with one plan: a full scan of a large table, or a sort / temporary table over many
    rows of one."""
    problems = []
    for table in _tables(plan):
        rows = int(table.get("rows") or 0)
        if table.get("access_type") == "ALL" and rows >= LARGE_ROWS:
            problems.append(f"full scan of {table['table_name']} (~{rows} rows)")
    for kind, node in _sorts(plan):
        for table in _tables(node):
            rows = int(table.get("rows") or 0)
            filtered = float(table.get("filtered") or 100) / 100
            if rows * filtered >= LARGE_ROWS:
                problems.append(f"{kind} over {table['table_name']} (~{int(rows * filtered)} rows)")
    return problems


def _parse(raw: str, parameters: Any) -> dict[str, Any]:
    """The plan as a dict. MariaDB prints an expression's string constants unescaped (a sort key
    `match (...) against ('+"稻花香"' in boolean mode)` breaks the JSON): blunt the quotes of the
    statement's string parameters first."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        values = parameters.values() if isinstance(parameters, dict) else (parameters or ())
        for value in values:
            if isinstance(value, str) and '"' in value:
                raw = raw.replace(value, value.replace('"', "'"))
        return orjson.loads(raw)


async def explain_all(statements: list[tuple[str, Any]]) -> list[str]:
    """`plan_problems` of every captured statement, each prefixed with the start of its SQL."""
    problems = []
    async with get_engine().connect() as conn:
        for statement, parameters in statements:
            result = await conn.exec_driver_sql("EXPLAIN FORMAT=JSON " + statement, parameters)
            plan = _parse(result.scalar_one(), parameters)
            problems.extend(f"{p}: {' '.join(statement.split())[:240]}" for p in plan_problems(plan))
    return problems
