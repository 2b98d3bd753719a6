"""The public scan: verify a code, count the scan, judge the verdict, and tell the batch's story (cached)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.catalog import cache as catalog_cache
from app.catalog import live as catalog_live
from app.config import get_settings
from app.db import session_scope, utcnow
from app.kit import metrics
from app.traceability import codes as codebook
from app.traceability import repository, scans
from app.traceability.certificates import trace_certificate
from app.traceability.errors import (
    TooManyUnknownCodes,
    UnknownCode,
)
from app.traceability.models import (
    TraceScan,
)
from app.traceability.schemas import (
    TraceBatch,
    TraceEvent,
    TracePlot,
    TraceProducer,
    TraceProduct,
    TraceResult,
    TraceStory,
    TraceVerdict,
)
from app.traceability.service import local_time, photo_url, today
from app.users import throttle

# Public verification


@lru_cache(maxsize=4096)  # parsing an address costs more than the rest of a cached scan's own work
def client_network(ip: str) -> str:
    """What a scan log keeps of the client address: its IPv4 /24 or IPv6 /48, never the address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _miss_key(ip: str) -> str:
    # Per client network (IPv4 /24, IPv6 /48): one client holds a whole IPv6 /64 or more, and a guesser
    # spreading over neighbouring addresses is still one guesser.
    return f"trace:miss:{client_network(ip) or ip[:64]}"


@dataclass
class ScanOutcome:
    verdict: TraceVerdict
    story: bytes  # the batch's story as JSON members: "product":{...},"batch":{...},"certificates":[...]
    scanner: str

    @property
    def first_scan(self) -> bool:
        return self.verdict.scan_count == 1

    def json(self) -> bytes:
        """The answer of GET /api/trace/{code}: exactly `TraceResult` serialised, the story spliced in."""
        return self.verdict.model_dump_json().encode()[:-1] + b"," + self.story + b"}"

    def result(self) -> TraceResult:
        return TraceResult.model_validate_json(self.json())


async def _refuse_unknown(client_ip: str) -> None:
    """An unknown code: counted against the client's network, so guessing codes is slow. Only unknown codes
    are ever refused: a real code answers whatever its network did before (see `scan`)."""
    settings = get_settings()
    key, window = _miss_key(client_ip), settings.trace_miss_window_seconds
    misses, retry_after = await throttle.count(key, window)
    if misses >= settings.trace_max_misses_per_ip:
        raise TooManyUnknownCodes(
            "Too many unknown codes from this network; try again later.", retry_after=retry_after
        )
    await throttle.hit(key, window)
    raise UnknownCode("No such trace code.")


async def scan(raw_code: str, *, client_ip: str, user_agent: str, device: str | None = None) -> ScanOutcome:
    """Verify a code and count the scan. `device`: the scanner id of the page's device cookie, if valid.

    Two round trips on the hot path: the code with the catalogue version (one lean read), and the count
    (one Redis call; without Redis, one short transaction). The batch's story comes from the catalogue's
    cache. Each unit of work here is its own (see app.traceability.scans)."""
    # The check symbol rejects a mistyped code here, without a database lookup; it tells a guesser nothing
    # (the check symbol is public arithmetic), so it does not count as a miss either.
    code = codebook.normalize(raw_code)
    if code is None:
        raise UnknownCode("No such trace code.")
    # The code is looked up before the miss throttle: thirty junk codes from a shared address must not stop
    # a genuine bag from answering for everyone behind it.
    row = await scans.lookup(code)
    if row is None:
        await _refuse_unknown(client_ip)
    assert row is not None
    network = client_network(client_ip)
    user_agent = user_agent[:255]
    scanner = device or scans.network_scanner(network, user_agent)
    now = utcnow()
    tally = await scans.record(row, scans.Scan(row.id, scanner, network, user_agent, now))
    story = await trace_story(row.batch_id, row.catalog_version)
    reasons = scans.judge(
        scanner_count=tally.scanner_count,
        revoked=row.revoked_at is not None,
        best_before_on=story.best_before_on,
        today=today(),
    )
    if reasons and row.flagged_at is None:
        await _flag(row, story.product_id, reasons, tally, now)
    verdict = TraceVerdict(
        code=code,
        verdict="suspicious" if reasons else "genuine",
        reasons=reasons,  # type: ignore[arg-type]
        scan_count=tally.scan_count,
        scanner_count=tally.scanner_count,
        first_scanned_at=tally.first_scanned_at,
    )
    metrics.TRACE_SCANS.labels(verdict.verdict).inc()
    return ScanOutcome(verdict=verdict, story=story.members, scanner=scanner)


async def _flag(
    row: scans.CodeRow, product_id: int, reasons: list[str], tally: scans.Tally, now: datetime
) -> None:
    """The first suspicious verdict of a code is recorded once (a conditional UPDATE: one winner)."""
    async with session_scope() as session:
        if await repository.mark_flagged(session, row.id, now):
            await events.emit(
                session,
                "trace_code.flagged",
                {
                    "code": row.code,
                    "batch_id": row.batch_id,
                    "product_id": product_id,
                    "reasons": reasons,
                    "scan_count": tally.scan_count,
                    "scanner_count": tally.scanner_count,
                    "flagged_at": now.isoformat(),
                },
                subject=f"code/{row.code}",
                version=2,
            )


@dataclass(frozen=True)
class Story:
    product_id: int
    best_before_on: date | None
    members: bytes


STORY_KEY = "trace-story:{batch_id}:{day}"
_STORIES_PARSED_MAX = 1000
# The cache hands back the same bytes object until the story changes: its parsed head is kept with it.
_parsed: dict[bytes, Story] = {}


async def trace_story(batch_id: int, version: int | None) -> Story:
    """The batch's story from the catalogue's cache (process memory, then Redis), rebuilt after any write
    that calls `invalidate` (batches, events, photos, certificates, producers, plots, products). Keyed by
    the day too: a certificate's status changes at midnight without any write."""
    if version is None:
        version = await catalog_live.version()
    key = STORY_KEY.format(batch_id=batch_id, day=today().isoformat())
    raw = await catalog_cache.cached(version, key, lambda: _build_story(batch_id))
    story = _parsed.get(raw)
    if story is None:
        meta, members = raw.split(b"\n", 1)
        product_id, best_before = meta.decode().split(" ")
        story = Story(
            int(product_id), date.fromisoformat(best_before) if best_before != "-" else None, members
        )
        if len(_parsed) >= _STORIES_PARSED_MAX:
            _parsed.clear()
        _parsed[raw] = story
    return story


async def _build_story(batch_id: int) -> bytes:
    async with session_scope() as session:
        batch = await repository.get_batch(session, batch_id)
        assert batch is not None
        product = await repository.get_product(session, batch.product_id)
        producer = await repository.get_producer(session, batch.producer_id)
        assert product is not None and producer is not None
        plot = await repository.get_plot(session, batch.plot_id) if batch.plot_id else None
        batch_events = await repository.list_events(session, [batch.id])
        certs = await repository.certificates_for(
            session, product_ids={product.id}, batch_ids={batch.id}, producer_ids={producer.id}
        )
        story = TraceStory(
            product=TraceProduct.model_validate(product),
            batch=TraceBatch(
                id=batch.id,
                batch_no=batch.batch_no,
                variety=batch.variety,
                producer=TraceProducer.model_validate(producer),
                plot=TracePlot.model_validate(plot) if plot else None,
                planted_on=batch.planted_on,
                harvested_on=batch.harvested_on,
                milled_on=batch.milled_on,
                packed_on=batch.packed_on,
                best_before_on=batch.best_before_on,
                events=[
                    TraceEvent(
                        type=e.type,
                        occurred_at=local_time(e),
                        time_zone_offset=e.tz_offset,
                        location=e.location,
                        details=e.details or {},
                        photo_url=photo_url(e),
                    )
                    for e in batch_events
                ],
            ),
            certificates=[trace_certificate(c, file_public=product.status == "published") for c in certs],
        )
    best_before = batch.best_before_on.isoformat() if batch.best_before_on else "-"
    meta = f"{product.id} {best_before}".encode()
    return meta + b"\n" + story.model_dump_json().encode()[1:-1]


async def scan_history(
    session: AsyncSession, raw_code: str, *, offset: int, limit: int
) -> tuple[list[TraceScan], int]:
    """Staff: a code's raw scans, newest first (those still in Redis appear after the next flush)."""
    code = codebook.normalize(raw_code)
    row = await repository.get_code(session, code) if code else None
    if row is None:
        raise UnknownCode("No such trace code.")
    scans_, total = await repository.list_scans(session, row.id, offset=offset, limit=limit)
    return list(scans_), total
