"""Every event written during the test run is checked against its schema in docs/event-schemas.

Two nets, deduplicated by event id: a `after_flush` listener sees every OutboxEvent the ORM writes (even in
transactions later rolled back), and a read of the outbox before each per-test cleanup sees whatever was
committed by any means (Core inserts too). Invalid events fail the test that wrote them; an event type
with no schema fails it too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.eventbus import catalog
from app.events import OutboxEvent

CLOUDEVENT_REQUIRED = ("specversion", "id", "source", "type", "time", "dataschema", "data")


def _json_ready(data: Any) -> Any:
    # What a consumer will see: the value after a JSON round trip (a datetime here would have failed the
    # flush already; a tuple becomes a list).
    return json.loads(json.dumps(data))


@dataclass
class EventCollector:
    seen: set[str] = field(default_factory=set)
    pending: list[tuple[str, str, int, Any, dict[str, Any] | None]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def _add(self, row: OutboxEvent) -> None:
        if row.event_id in self.seen:
            return
        self.seen.add(row.event_id)
        try:
            envelope = row.envelope() if row.occurred_at is not None else None
            self.pending.append((row.event_id, row.type, row.version or 1, _json_ready(row.data), envelope))
        except (TypeError, ValueError) as exc:
            self.problems.append(f"{row.type} {row.event_id}: data is not JSON-ready: {exc}")

    def after_flush(self, session: Session, _context: Any) -> None:
        for obj in session.new:
            if isinstance(obj, OutboxEvent):
                self._add(obj)

    async def read_outbox(self, connection: Any) -> None:
        rows = (await connection.execute(select(OutboxEvent))).all()
        for row in rows:
            if row.event_id not in self.seen:
                self._add(OutboxEvent(**{c: getattr(row, c) for c in row._fields}))

    def check(self) -> list[str]:
        """Validate what was collected since the last check; returns the problems found."""
        problems, self.problems = self.problems, []
        for event_id, event_type, version, data, envelope in self.pending:
            self.counts[f"{event_type} v{version}"] += 1
            problems.extend(f"event {event_id}: {p}" for p in catalog.validate(event_type, version, data))
            if envelope is not None:
                missing = [k for k in CLOUDEVENT_REQUIRED if k not in envelope]
                if missing or envelope["specversion"] != "1.0":
                    problems.append(f"event {event_id}: envelope lacks {missing}")
        self.pending.clear()
        return problems

    def install(self) -> None:
        event.listen(Session, "after_flush", self.after_flush)

    def uninstall(self) -> None:
        event.remove(Session, "after_flush", self.after_flush)
