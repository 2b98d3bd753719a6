"""Trace codes: issuing them (at once or as a background run), revoking them, listing them for labels."""

from __future__ import annotations

import anyio
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.config import get_settings
from app.db import utcnow
from app.traceability import codes as codebook
from app.traceability import labels, repository
from app.traceability.errors import (
    CodeRunNotFound,
)
from app.traceability.models import (
    Batch,
    CodeRun,
    CodeRunStatus,
    TraceCode,
)
from app.traceability.schemas import (
    CodeRunRead,
)
from app.traceability.service import get_batch_or_raise

CODE_RUN_CHUNK = 2000


# Trace codes


async def issue_codes(
    session: AsyncSession, batch_id: int, count: int, *, run_id: int | None = None
) -> list[str]:
    """`count` fresh random codes for the batch. A clash with an existing code (one in 2^65 per pair)
    is detected and that code drawn again; the unique index is the final word."""
    for _ in range(5):
        fresh: set[str] = set()
        while len(fresh) < count:
            fresh.add(codebook.new_code())
        clashes = await repository.existing_codes(session, list(fresh))
        while clashes:
            fresh -= clashes
            while len(fresh) < count:
                fresh.add(codebook.new_code())
            clashes = await repository.existing_codes(session, list(fresh))
        codes = list(fresh)
        try:
            async with session.begin_nested():
                await repository.insert_codes(session, batch_id, codes, run_id)
        except IntegrityError:  # a concurrent issue drew the same code between our check and insert
            continue
        return codes
    raise RuntimeError("could not issue unique trace codes")


async def create_codes(session: AsyncSession, batch_id: int, count: int) -> list[str]:
    await get_batch_or_raise(session, batch_id)
    codes = await issue_codes(session, batch_id, count)
    await events.emit(
        session,
        "trace_codes.issued",
        {"batch_id": batch_id, "count": len(codes), "run_id": None},
        subject=f"batch/{batch_id}",
    )
    return codes


def code_run_read(run: CodeRun) -> CodeRunRead:
    return CodeRunRead(
        id=run.id,
        batch_id=run.batch_id,
        requested=run.requested,
        issued=run.issued,
        status=run.status,
        progress_percent=run.issued * 100 // run.requested if run.requested else 100,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


async def start_code_run(
    session: AsyncSession, batch_id: int, count: int, *, requested_by: int | None
) -> CodeRunRead:
    await get_batch_or_raise(session, batch_id)
    run = CodeRun(batch_id=batch_id, requested=count, requested_by=requested_by)
    session.add(run)
    await session.flush()
    return code_run_read(run)


async def get_code_run(session: AsyncSession, run_id: int) -> CodeRunRead:
    run = await repository.get_code_run(session, run_id)
    if run is None:
        raise CodeRunNotFound("No such code run.")
    return code_run_read(run)


async def process_code_run_chunk(session: AsyncSession, chunk: int = CODE_RUN_CHUNK) -> int:
    """Issue the next chunk of one unfinished run (locked; other workers take other runs)."""
    run = await repository.claim_code_run(session)
    if run is None:
        return 0
    n = min(chunk, run.requested - run.issued)
    if n > 0:
        await issue_codes(session, run.batch_id, n, run_id=run.id)
    run.issued += n
    run.updated_at = utcnow()
    run.status = CodeRunStatus.running.value
    if run.issued >= run.requested:
        run.status = CodeRunStatus.done.value
        run.finished_at = utcnow()
        await events.emit(
            session,
            "trace_codes.issued",
            {"batch_id": run.batch_id, "count": run.issued, "run_id": run.id},
            subject=f"batch/{run.batch_id}",
        )
    await session.flush()
    return max(n, 1)


async def revoke_codes(session: AsyncSession, raw_codes: list[str], reason: str) -> tuple[int, list[str]]:
    valid, unknown = [], []
    for raw in raw_codes:
        code = codebook.normalize(raw)
        (valid if code else unknown).append(code or raw)
    known = await repository.existing_codes(session, valid) if valid else set()
    unknown += [c for c in valid if c not in known]
    revoked = await repository.revoke_codes(session, sorted(known), reason, utcnow()) if known else 0
    for code in sorted(known):
        await events.emit(
            session, "trace_code.revoked", {"code": code, "reason": reason}, subject=f"code/{code}"
        )
    return revoked, unknown


async def codes_for_labels(
    session: AsyncSession, batch_id: int, *, run_id: int | None, limit: int
) -> tuple[Batch, list[str]]:
    batch = await get_batch_or_raise(session, batch_id)
    rows, _ = await repository.list_codes(
        session, batch_id, run_id=run_id, include_revoked=False, limit=limit
    )
    return batch, [r.code for r in rows]


async def list_codes(
    session: AsyncSession, batch_id: int, *, run_id: int | None, offset: int, limit: int | None
) -> tuple[list[TraceCode], int]:
    await get_batch_or_raise(session, batch_id)
    rows, total = await repository.list_codes(session, batch_id, run_id=run_id, offset=offset, limit=limit)
    return list(rows), total


def trace_url(code: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/trace/{code}"


async def codes_csv(session: AsyncSession, batch_id: int, *, run_id: int | None) -> tuple[str, bytes]:
    """(batch number, CSV bytes) of a batch's codes: code, printed form, URL, batch, status; with a BOM so
    spreadsheet programs read the UTF-8."""
    batch = await get_batch_or_raise(session, batch_id)
    rows, _ = await list_codes(session, batch_id, run_id=run_id, offset=0, limit=None)
    text = labels.codes_csv(
        (
            c.code,
            codebook.pretty(c.code),
            trace_url(c.code),
            batch.batch_no,
            "revoked" if c.revoked_at else "active",
        )
        for c in rows
    )
    return batch.batch_no, text.encode("utf-8-sig")


async def batch_label_sheet(
    session: AsyncSession, batch_id: int, *, run_id: int | None, limit: int
) -> labels.LabelSheet:
    """The label sheet of a batch's live codes (one run's, or all), at most `limit` labels. Drawing takes a
    while for thousands of codes, so it runs off the event loop."""
    batch, codes = await codes_for_labels(session, batch_id, run_id=run_id, limit=limit)
    pdf = await anyio.to_thread.run_sync(
        labels.label_sheet, codes, trace_url, f"Trace labels {batch.batch_no}"
    )
    return labels.LabelSheet(batch.batch_no, pdf)
