"""docs/event-schemas: every event type has a schema, published schemas never change."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.eventbus import catalog
from app.events import OutboxEvent
from tests.event_validation import EventCollector

REQUIRED_TYPES = {
    "user.registered",
    "product.published",
    "product.updated",
    "stock.low",
    "order.created",
    "order.paid",
    "order.cancelled",
    "order.shipped",
    "order.completed",
    "order.refund_requested",
    "order.refunded",
    "payment.succeeded",
    "payment.failed",
    "trace_code.scanned",
    "trace_code.flagged",
    "certificate.expiring",
}


class TestCatalogue:
    def test_published_schemas_never_change(self):
        assert catalog.manifest_problems() == []

    @pytest.mark.parametrize("file", catalog.schema_files(), ids=lambda f: f.name)
    def test_each_schema_is_a_complete_draft_2020_12_entry(self, file):
        assert catalog.problems_in_schema(file) == []

    def test_the_readme_lists_every_type_and_version(self):
        readme = (catalog.SCHEMA_DIR / catalog.README).read_text(encoding="utf-8")
        assert readme == catalog.readme_with_table(readme), "run `daoxiang event-schemas`"

    def test_only_schema_files_live_here(self):
        names = {p.name for p in catalog.SCHEMA_DIR.iterdir()}
        strays = names - {f.name for f in catalog.schema_files()} - {catalog.MANIFEST, catalog.README}
        assert strays == set(), "schema files are named <type>.v<N>.json"

    def test_every_event_the_shop_promises_has_a_schema(self):
        assert REQUIRED_TYPES - {f.type for f in catalog.schema_files()} == set()


class TestManifest:
    def _copy(self, tmp_path: Path) -> Path:
        for path in catalog.SCHEMA_DIR.iterdir():
            (tmp_path / path.name).write_bytes(path.read_bytes())
        return tmp_path

    def test_a_changed_published_schema_is_caught_and_not_rerecorded(self, tmp_path: Path):
        directory = self._copy(tmp_path)
        path = directory / "user.registered.v1.json"
        path.write_text(path.read_text().replace('"minimum": 1', '"minimum": 0'))
        assert any("changed after it was published" in p for p in catalog.manifest_problems(directory))
        _added, refused = catalog.update(directory)
        assert refused
        assert catalog.manifest_problems(directory)

    def test_a_new_version_is_recorded_by_the_command(self, tmp_path: Path):
        directory = self._copy(tmp_path)
        v2 = (directory / "user.registered.v1.json").read_text().replace(".v1.json", ".v2.json")
        (directory / "user.registered.v2.json").write_text(v2)
        assert catalog.manifest_problems(directory) == [
            "user.registered.v2.json is not in manifest.json yet: run `daoxiang event-schemas`"
        ]
        added, refused = catalog.update(directory)
        assert (added, refused) == (["user.registered.v2.json"], [])
        assert catalog.manifest_problems(directory) == []
        assert "| `user.registered` | v2 |" in (directory / catalog.README).read_text()

    def test_a_removed_published_schema_is_caught(self, tmp_path: Path):
        directory = self._copy(tmp_path)
        (directory / "user.registered.v1.json").unlink()
        assert any("is gone" in p for p in catalog.manifest_problems(directory))


class TestValidation:
    def test_valid_data_passes(self):
        data = {"user_id": 1, "role": "customer", "registered_at": "2026-11-25T13:05:00+00:00"}
        assert catalog.validate("user.registered", 1, data) == []

    def test_a_wrong_or_extra_field_fails(self):
        data = {"user_id": "1", "role": "customer", "registered_at": "2026-11-25T13:05:00+00:00", "x": 1}
        problems = catalog.validate("user.registered", 1, data)
        assert len(problems) == 2

    def test_a_time_without_a_zone_fails(self):
        data = {"user_id": 1, "role": "customer", "registered_at": "2026-11-25T13:05:00"}
        assert catalog.validate("user.registered", 1, data) != []

    def test_an_event_type_without_a_schema_fails(self):
        (problem,) = catalog.validate("order.teleported", 1, {})
        assert "no schema for order.teleported v1" in problem


class TestSuiteWideCheck:
    """The fixture in tests/conftest.py uses this collector for every event written during the run."""

    def _event(self, event_type: str, data: dict, version: int = 1) -> OutboxEvent:
        from app.db import utcnow

        return OutboxEvent(
            event_id=f"id-{event_type}", type=event_type, version=version, data=data, occurred_at=utcnow()
        )

    def test_reports_invalid_data_and_unknown_types_once(self):
        collector = EventCollector()
        collector._add(self._event("user.registered", {"user_id": 1}))
        collector._add(self._event("order.teleported", {}))
        collector._add(self._event("order.teleported", {}))  # the same event id seen twice
        problems = collector.check()
        assert len(problems) == 3  # two missing fields, one unknown type
        assert collector.check() == []

    def test_a_version_without_its_file_fails(self):
        collector = EventCollector()
        collector._add(self._event("user.registered", {}, version=9))
        assert "no schema for user.registered v9" in collector.check()[0]
