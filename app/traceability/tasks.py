import time

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope
from app.kit import storage
from app.traceability import certificates, files, issuing, scans
from app.traceability.models import BatchEvent, Certificate

CODE_RUN_BUDGET_SECONDS = 20


async def warn_expiring_certificates(session: AsyncSession) -> int:
    return await certificates.warn_expiring_certificates(session)


async def process_code_runs(session: AsyncSession) -> int:
    """Issue queued codes chunk by chunk, each chunk its own transaction so staff see progress.

    The job's own session stays unused: on SQLite a writing second session would wait on it."""
    handled, deadline = 0, time.monotonic() + CODE_RUN_BUDGET_SECONDS
    while time.monotonic() < deadline:
        async with session_scope() as chunk_session:
            issued = await issuing.process_code_run_chunk(chunk_session)
        if not issued:
            break
        handled += issued
    return handled


async def flush_scans(session: AsyncSession) -> int:
    """Move the scans counted in Redis to the database (every worker tick; each batch its own transaction,
    so the job's own session stays unused)."""
    return await scans.flush()


async def purge_scan_flushes(session: AsyncSession) -> int:
    return await scans.purge_flush_records(session)


async def sweep_files(session: AsyncSession) -> int:
    """Delete event photos and certificate scans no row points to (a failed upload's, a replaced file's) and
    interrupted writes, once past app.kit.storage's grace period. The quarantine is left alone."""
    stored = [
        *(
            await session.execute(select(BatchEvent.photo_path).where(BatchEvent.photo_path.is_not(None)))
        ).scalars(),
        *(
            await session.execute(select(Certificate.file_path).where(Certificate.file_path.is_not(None)))
        ).scalars(),
    ]
    referenced = [path for path in map(files.path_of, stored) if path is not None]

    def sweep() -> int:
        return sum(
            storage.sweep(files.root() / "trace" / folder, referenced)
            for folder in ("photos", "certificates")
        )

    return await anyio.to_thread.run_sync(sweep)
