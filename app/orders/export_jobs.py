"""Staff order exports as background jobs (issue 18): start -> export id -> progress -> download.

A request only records the export (status `pending`); `daoxiang worker` writes the file, chunk by chunk
with app.orders.export.export_rows (keyset by id, a short read per chunk, one chunk in memory), and
records `rows_done` after each chunk. The web process does none of the work, so an export of a million
orders blocks no request. Files go to the private files directory (never served as static files) and are
downloaded through the staff-only route.

Several workers may run: an export is claimed by a conditional UPDATE (pending -> running), and one whose
worker died (running, no progress for EXPORT_STALE) is claimed again and written from the start.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope, utcnow
from app.orders import export as streamed
from app.orders import repository
from app.orders.errors import ExportNotFound, ExportNotReady
from app.orders.models import ExportStatus, OrderExport
from app.orders.schemas import OrderExportCreate, OrderExportRead

log = logging.getLogger("daoxiang.orders.exports")

EXPORT_STALE = timedelta(minutes=5)
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def exports_dir() -> Path:
    return get_settings().private_files_dir / "exports"


def download_name(export: OrderExport) -> str:
    return f"orders-{export.date_from or 'all'}-{export.date_to or 'all'}.{export.format}"


def to_read(export: OrderExport) -> OrderExportRead:
    done = export.status == ExportStatus.done
    total = export.rows_total
    if done:
        percent = 100
    elif total:
        percent = min(99, export.rows_done * 100 // total)
    else:
        percent = 0
    return OrderExportRead(
        id=export.id,
        format=export.format,
        date_from=export.date_from,
        date_to=export.date_to,
        status=export.status,
        rows_total=total,
        rows_done=export.rows_done,
        progress_percent=percent,
        created_at=export.created_at,
        finished_at=export.finished_at,
        download_url=f"/api/admin/order-exports/{export.id}/file" if done else None,
    )


async def start(session: AsyncSession, staff: Any, data: OrderExportCreate) -> OrderExport:
    now = utcnow()
    export = OrderExport(
        requested_by=staff.id,
        format=data.format,
        date_from=data.date_from,
        date_to=data.date_to,
        status=ExportStatus.pending.value,
        rows_done=0,
        created_at=now,
        updated_at=now,
    )
    session.add(export)
    await session.flush()
    return export


async def get_or_raise(session: AsyncSession, export_id: int) -> OrderExport:
    export = (
        await session.execute(
            select(OrderExport).where(OrderExport.id == export_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if export is None:
        raise ExportNotFound("No such export.")
    return export


async def file_of(session: AsyncSession, export_id: int) -> tuple[Path, str, str]:
    """(path, download name, media type) of a finished export; 409 export_not_ready before that."""
    export = await get_or_raise(session, export_id)
    path = exports_dir() / (export.file_name or "")
    if export.status != ExportStatus.done or not export.file_name or not path.is_file():
        raise ExportNotReady(f"The export is {export.status}; download it once it is done.")
    return path, download_name(export), MEDIA_TYPES[export.format]


def _claimable(now: Any) -> Any:
    return or_(
        OrderExport.status == ExportStatus.pending.value,
        and_(OrderExport.status == ExportStatus.running.value, OrderExport.updated_at < now - EXPORT_STALE),
    )


async def _claim() -> int | None:
    """The id of an export this worker now owns (committed as running), or None."""
    for _ in range(5):
        async with session_scope() as session:
            now = utcnow()
            export_id = (
                await session.execute(
                    select(OrderExport.id).where(_claimable(now)).order_by(OrderExport.id).limit(1)
                )
            ).scalar_one_or_none()
            if export_id is None:
                return None
            claimed = await session.execute(
                update(OrderExport)
                .where(OrderExport.id == export_id, _claimable(now))
                .values(status=ExportStatus.running.value, rows_done=0, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:
                return export_id
    return None


async def _set(export_id: int, **values: Any) -> None:
    async with session_scope() as session:
        await session.execute(
            update(OrderExport)
            .where(OrderExport.id == export_id)
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )


async def run_one() -> int:
    """Write one pending export; 1 when there was one, else 0."""
    export_id = await _claim()
    if export_id is None:
        return 0
    try:
        await _write(export_id)
    except Exception:
        log.exception("export failed", extra={"export_id": export_id})
        await _set(export_id, status=ExportStatus.failed.value)
    return 1


async def _write(export_id: int) -> None:
    async with session_scope() as session:
        export = await get_or_raise(session, export_id)
        upto = await repository.newest_id(session)
        total = await streamed.export_count(session, export.date_from, export.date_to, upto)
        fmt, date_from, date_to = export.format, export.date_from, export.date_to
    await _set(export_id, upto_id=upto, rows_total=total)
    directory = exports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{export_id}-{secrets.token_hex(8)}.{fmt}"
    part = directory / (final.name + ".part")
    done = 0
    try:
        if fmt == "csv":
            with part.open("w", encoding="utf-8", newline="") as out:
                out.write("\ufeff" + streamed.csv_text([streamed.CSV_COLUMNS]))
                async for chunk in streamed.export_rows(date_from, date_to, upto):
                    out.write(streamed.csv_text(chunk))
                    done += len(chunk)
                    await _set(export_id, rows_done=done)
        else:
            from openpyxl import Workbook

            # Write-only: rows go to a temporary file as they are appended, not into memory.
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("orders")
            sheet.append(streamed.CSV_COLUMNS)

            def append(rows: list[list[str]]) -> None:
                for row in rows:
                    sheet.append(row)

            async for chunk in streamed.export_rows(date_from, date_to, upto):
                await anyio.to_thread.run_sync(append, chunk)
                done += len(chunk)
                await _set(export_id, rows_done=done)
            await anyio.to_thread.run_sync(workbook.save, part)
        part.rename(final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    await _set(
        export_id,
        status=ExportStatus.done.value,
        rows_done=done,
        rows_total=done,
        file_name=final.name,
        finished_at=utcnow(),
    )


async def run_continuously(stop: asyncio.Event) -> None:
    """`daoxiang worker`: write exports as they are asked for, beside the ticks (a long export does not
    hold up the other jobs)."""
    interval = get_settings().worker_interval_seconds
    while not stop.is_set():
        try:
            handled = await run_one()
        except Exception:
            log.exception("export loop failed")
            handled = 0
        if not handled:
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
