"""The lean store's INSERT statements, generated from the models' tables, and the check at import that every
required column is one the pipeline fills or one with a default (app.checkout.stores)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Column, Table

from app.adoptions.models import Adoption
from app.checkout.stores.base import (
    ADOPTION_FIELDS,
    ITEM_FIELDS,
    KEY_FIELDS,
    ORDER_FIELDS,
    OUTBOX_FIELDS,
    PRESALE_SHARE_FIELDS,
    PURCHASE_FIELDS,
)
from app.events import OutboxEvent
from app.flash_sales.models import FlashSalePurchase
from app.kit.leandb import HexText
from app.orders.models import IdempotencyKey, Order, OrderItem
from app.presales.models import PresaleOrder


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _aware(at: datetime) -> datetime:
    """A DATETIME column's value (naive UTC, as the models store it) as an aware datetime."""
    return at.replace(tzinfo=UTC)


def _insertable(table: Table) -> list[Column]:
    """Every column of `table` but an autoincrement primary key, in the table's order."""
    return [c for c in table.columns if not (c.primary_key and c.autoincrement in (True, "auto"))]


def _python_default(column: Column) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)  # SQLAlchemy wraps a callable default to take the execution context
    return default.arg


def check_covered(table: Table, filled: frozenset[str], *, by_server: frozenset[str] = frozenset()) -> None:
    """Every NOT NULL column without a server default is filled by the pipeline, by the statement itself
    (`by_server`), or by its Python-side default; a column that is none of these fails at import."""
    missing = sorted(
        c.name
        for c in _insertable(table)
        if not c.nullable
        and c.server_default is None
        and c.default is None
        and c.name not in filled | by_server
    )
    if missing:
        raise RuntimeError(f"checkout does not fill the required columns {missing} of {table.name}")


# Longer text goes as a hex literal: escaping it in Python costs more (app.kit.leandb.HexText).
HEX_FROM_CHARS = 64


class _Insert:
    """An INSERT of every insertable column of a table, generated from its metadata. `server_values`:
    columns whose value is an SQL expression, not a parameter (the lines' order id)."""

    def __init__(
        self, table: Table, filled: frozenset[str], server_values: dict[str, str] | None = None
    ) -> None:
        server_values = server_values or {}
        check_covered(table, filled, by_server=frozenset(server_values))
        self.columns = [c for c in _insertable(table) if c.name not in server_values]
        names = [*server_values, *(c.name for c in self.columns)]
        values = [*server_values.values(), *(["%s"] * len(self.columns))]
        self.sql = (
            f"INSERT INTO {table.name} ({', '.join(f'`{n}`' for n in names)}) VALUES ({', '.join(values)})"  # noqa: S608 - names from the models
        )

        # Precomputed once: (name, whether a missing value takes the Python-side default, that column).
        self._plan = [(c.name, c.default is not None, c) for c in self.columns]

    def params(self, row: dict[str, Any]) -> list[Any]:
        # One pass in the columns' order; a value's type picks its conversion (no isinstance chain per value).
        return [
            (value if type(value := row[name]) in _AS_IS else _param(value))
            if name in row
            else (_python_default(column) if defaulted else None)
            for name, defaulted, column in self._plan
        ]


_AS_IS = frozenset({int, bool, float, type(None), bytes})


def _param(value: Any) -> Any:
    """A row's value as the statement's parameter: naive UTC datetimes, JSON text, long text as hex."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is str:
        return HexText(value) if len(value) > HEX_FROM_CHARS else value
    if kind is datetime:
        return value.replace(tzinfo=None) if value.tzinfo is UTC else _naive_utc(value)
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, dict | list):
        return HexText(orjson.dumps(value).decode())
    if isinstance(value, str) and len(value) > HEX_FROM_CHARS:
        return HexText(value)
    return value


ORDER_INSERT = _Insert(Order.__table__, ORDER_FIELDS)
ITEM_INSERT = _Insert(OrderItem.__table__, ITEM_FIELDS, {"order_id": "@daoxiang_order_id"})
# An order of one line (most): the line takes the order's id straight from LAST_INSERT_ID(), no SET.
ONLY_ITEM_INSERT = _Insert(OrderItem.__table__, ITEM_FIELDS, {"order_id": "LAST_INSERT_ID()"})
OUTBOX_INSERT = _Insert(OutboxEvent.__table__, OUTBOX_FIELDS)
KEY_INSERT = _Insert(IdempotencyKey.__table__, KEY_FIELDS)
PURCHASE_INSERT = _Insert(FlashSalePurchase.__table__, PURCHASE_FIELDS)
ADOPTION_INSERT = _Insert(Adoption.__table__, ADOPTION_FIELDS)
PRESALE_SHARE_INSERT = _Insert(PresaleOrder.__table__, PRESALE_SHARE_FIELDS)
