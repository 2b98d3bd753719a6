"""The staff's order export (CSV or XLSX), streamed in chunks each read in its own short session."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope
from app.kit.money import fen_to_yuan
from app.kit.time import format_shop_time
from app.orders import repository
from app.orders.staff import day_bounds

CSV_COLUMNS = [
    "order_no",
    "created_at",
    "status",
    "buyer_phone",
    "recipient",
    "recipient_phone",
    "address",
    "items",
    "subtotal_yuan",
    "shipping_yuan",
    "discount_yuan",
    "total_yuan",
    "paid_at",
    "carrier",
    "tracking_no",
    "note",
]
# Orders read per transaction while exporting: each chunk is a short read, so an export of a million orders
# holds no transaction open and the rows in memory are one chunk's, however large the export.
EXPORT_CHUNK = 1000


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell that starts like a formula is kept as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _local(at: datetime | None) -> str:
    return "" if at is None else format_shop_time(at)


def export_row(order: Any, phone: str, lines: Sequence[Any]) -> list[str]:
    """One order (a row of the orders table) as the cells of CSV_COLUMNS (formula-looking text kept as
    text)."""
    a = order.address
    return [
        _csv_cell(v)
        for v in (
            order.order_no,
            _local(order.created_at),
            order.status,
            phone,
            a.get("recipient"),
            a.get("phone"),
            f"{a.get('province', '')}{a.get('city', '')}{a.get('district', '')}{a.get('detail', '')}",
            "; ".join(f"{i.name} x{i.quantity}" for i in lines),
            fen_to_yuan(order.subtotal_fen),
            fen_to_yuan(order.shipping_fen),
            fen_to_yuan(order.discount_fen),
            fen_to_yuan(order.total_fen),
            _local(order.paid_at),
            order.carrier,
            order.tracking_no,
            order.note,
        )
    ]


async def export_rows(
    date_from: date | None, date_to: date | None, upto: int | None = None
) -> AsyncIterator[list[list[str]]]:
    """Every order placed in the range (up to order `upto`, default the newest now), oldest first, as
    chunks of rows: keyset by id, each chunk read in its own short session (the request's session is not
    held while the file streams)."""
    created_from, created_before = day_bounds(date_from, date_to)
    if upto is None:
        async with session_scope() as session:
            upto = await repository.newest_id(session)
    after = 0
    while True:
        async with session_scope() as session:
            rows = await repository.export_chunk(
                session, created_from, created_before, after, upto, EXPORT_CHUNK
            )
        if not rows:
            return
        after = rows[-1][0].id
        yield [export_row(order, phone, lines) for order, phone, lines in rows]


async def export_csv(date_from: date | None, date_to: date | None) -> AsyncIterator[bytes]:
    """The export as CSV, UTF-8 with a BOM (so Excel reads the Chinese right), streamed chunk by chunk."""
    yield ("\ufeff" + csv_text([CSV_COLUMNS])).encode("utf-8")
    async for chunk in export_rows(date_from, date_to):
        yield csv_text(chunk).encode("utf-8")


async def export_count(session: AsyncSession, date_from: date | None, date_to: date | None, upto: int) -> int:
    """How many orders an export of the range up to order `upto` holds (a background export's total)."""
    created_from, created_before = day_bounds(date_from, date_to)
    return await repository.export_count(session, created_from, created_before, upto)


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


async def export_xlsx(date_from: date | None, date_to: date | None) -> AsyncIterator[bytes]:
    """The export as .xlsx: openpyxl's write-only workbook keeps rows in a temporary file, not in memory;
    each chunk is appended in a worker thread so the event loop keeps serving. The zip can only be sent
    once it is complete, so the first byte comes at the end."""
    import tempfile

    import anyio
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("orders")
    sheet.append(CSV_COLUMNS)

    def append(rows: list[list[str]]) -> None:
        for row in rows:
            sheet.append(row)

    async for chunk in export_rows(date_from, date_to):
        await anyio.to_thread.run_sync(append, chunk)
    with tempfile.TemporaryFile() as spool:
        await anyio.to_thread.run_sync(workbook.save, spool)
        spool.seek(0)
        while block := await anyio.to_thread.run_sync(spool.read, 1 << 16):
            yield block
