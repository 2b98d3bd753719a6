"""Every traceability event's data validates against its JSON Schema in docs/event-schemas."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
from sqlalchemy import select

from app.config import get_settings
from app.db import session_scope
from app.events import OutboxEvent
from app.kit.time import shop_today
from app.users.models import Role
from app.worker import run_job
from tests.catalog.factories import create_product
from tests.users.factories import auth, create_user

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "event-schemas"
TYPES = {
    "producer.created",
    "batch.created",
    "batch.event_recorded",
    "certificate.created",
    "certificate.expiring",
    "trace_codes.issued",
    "trace_code.revoked",
    "trace_code.scanned",
    "trace_code.flagged",
}


# The version each event type is emitted with now.
VERSIONS = {"trace_code.scanned": 2, "trace_code.flagged": 2}


def validator(event_type: str, version: int | None = None) -> jsonschema.Draft202012Validator:
    version = version or VERSIONS.get(event_type, 1)
    schema = json.loads((SCHEMAS / f"{event_type}.v{version}.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://daoxiang.example/event-schemas/{event_type}.v{version}.json"
    assert schema["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


class TestEventSchemas:
    def test_examples_are_valid(self):
        for event_type in TYPES:
            v = validator(event_type)
            schema = v.schema
            for example in schema["examples"]:
                v.validate(example)

    async def test_every_emitted_event_matches_its_schema(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_suspicious_scanners", 1)
        staff = auth(await create_user(role=Role.merchant))
        product = await create_product()
        producer = (
            await client.post(
                "/api/admin/producers", json={"name": "p", "region": "r", "license_no": "l"}, headers=staff
            )
        ).json()
        batch = (
            await client.post(
                "/api/admin/batches",
                json={"product_id": product.id, "producer_id": producer["id"], "quantity_kg": 10},
                headers=staff,
            )
        ).json()
        await client.post(
            f"/api/admin/batches/{batch['id']}/events",
            json={"type": "milled", "occurred_at": "2026-10-01T08:00:00-03:30"},
            headers=staff,
        )
        await client.post(
            "/api/admin/certificates",
            json={
                "kind": "geographical_indication",
                "number": "n",
                "issuer": "i",
                "valid_from": "2026-01-01",
                "valid_until": (shop_today() + timedelta(days=5)).isoformat(),
                "producer_id": producer["id"],
            },
            headers=staff,
        )
        codes = (
            await client.post(f"/api/admin/batches/{batch['id']}/codes", json={"count": 2}, headers=staff)
        ).json()
        await client.get(f"/api/trace/{codes['codes'][0]}", headers={"User-Agent": "phone A"})
        await client.get(f"/api/trace/{codes['codes'][0]}", headers={"User-Agent": "phone B"})
        await run_job("traceability.flush_scans")  # with Redis, scanned events are written by the flush
        await client.post("/api/admin/trace-codes/revoke", json={"codes": [codes["codes"][1]]}, headers=staff)
        await run_job("traceability.warn_expiring_certificates")

        async with session_scope() as session:
            rows = (await session.execute(select(OutboxEvent))).scalars().all()
        assert {r.type for r in rows} == TYPES
        for row in rows:
            assert row.version == VERSIONS.get(row.type, 1)
            validator(row.type, row.version).validate(json.loads(json.dumps(row.data)))
