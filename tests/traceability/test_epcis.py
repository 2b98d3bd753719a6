"""The EPCIS export checked against the structure GS1 EPCIS 2.0 (JSON/JSON-LD binding) and CBV 2.0 require.

Rules written from the standard: the EPCISDocument header fields; per event type the mandatory fields
(all events: `type`, `eventTime`, `eventTimeZoneOffset`; ObjectEvent: `action` and a non-empty `epcList` or
`quantityList`; TransformationEvent: no `action`, at least one input and one output); quantity elements
(`epcClass` URI, numeric `quantity`, `uom` only with a quantity); `bizStep`/`disposition` either a CBV 2.0
bare term or a URI; `readPoint`/`bizLocation` objects whose `id` is a URI.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlparse

import pytest

from tests.catalog.factories import create_product
from tests.traceability import factories as f

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EVENT_TYPES = {
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
}
CBV_BIZ_STEPS = {
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
}
CBV_DISPOSITIONS = {
    "active",
    "available",
    "completeness_inferred",
    "completeness_verified",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
}
OFFSET = re.compile(r"^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$")


def is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return bool(parsed.scheme) and (bool(parsed.netloc) or parsed.scheme in {"urn"})


def is_timestamp_with_zone(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def check_quantity_list(items: object, where: str) -> list[str]:
    problems = []
    if not isinstance(items, list):
        return [f"{where} is not a list"]
    for q in items:
        if not is_uri(q.get("epcClass")):
            problems.append(f"{where}: epcClass is not a URI")
        if "uom" in q and "quantity" not in q:
            problems.append(f"{where}: uom without quantity")
        if "quantity" in q and not isinstance(q["quantity"], (int, float)):
            problems.append(f"{where}: quantity is not a number")
    return problems


def epcis_problems(doc: dict) -> list[str]:
    problems = []
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if EPCIS_CONTEXT not in contexts:
        problems.append("@context lacks the EPCIS 2.0 context")
    if doc.get("type") != "EPCISDocument":
        problems.append("type is not EPCISDocument")
    if doc.get("schemaVersion") != "2.0":
        problems.append("schemaVersion is not 2.0")
    if not is_timestamp_with_zone(doc.get("creationDate")):
        problems.append("creationDate is not a timestamp with zone")
    events = doc.get("epcisBody", {}).get("eventList")
    if not isinstance(events, list):
        return [*problems, "epcisBody.eventList missing"]
    for i, e in enumerate(events):
        where = f"event {i} ({e.get('type')})"
        if e.get("type") not in EVENT_TYPES:
            problems.append(f"{where}: unknown type")
        if not is_timestamp_with_zone(e.get("eventTime")):
            problems.append(f"{where}: eventTime")
        if not isinstance(e.get("eventTimeZoneOffset"), str) or not OFFSET.match(e["eventTimeZoneOffset"]):
            problems.append(f"{where}: eventTimeZoneOffset")
        elif is_timestamp_with_zone(e.get("eventTime")) and not e["eventTime"].endswith(
            e["eventTimeZoneOffset"]
        ):
            problems.append(f"{where}: eventTime not in its eventTimeZoneOffset")
        if "eventID" in e and not is_uri(e["eventID"]):
            problems.append(f"{where}: eventID is not a URI")
        if "recordTime" in e and not is_timestamp_with_zone(e["recordTime"]):
            problems.append(f"{where}: recordTime")
        if e.get("type") == "ObjectEvent":
            if e.get("action") not in {"ADD", "OBSERVE", "DELETE"}:
                problems.append(f"{where}: action")
            if not (e.get("epcList") or e.get("quantityList")):
                problems.append(f"{where}: neither epcList nor quantityList")
            problems += check_quantity_list(e.get("quantityList", []), f"{where} quantityList")
        if e.get("type") == "TransformationEvent":
            if "action" in e:
                problems.append(f"{where}: TransformationEvent has no action")
            if not (e.get("inputEPCList") or e.get("inputQuantityList")):
                problems.append(f"{where}: no input")
            if not (e.get("outputEPCList") or e.get("outputQuantityList")):
                problems.append(f"{where}: no output")
            problems += check_quantity_list(e.get("inputQuantityList", []), f"{where} inputQuantityList")
            problems += check_quantity_list(e.get("outputQuantityList", []), f"{where} outputQuantityList")
        for key, vocabulary in (("bizStep", CBV_BIZ_STEPS), ("disposition", CBV_DISPOSITIONS)):
            if key in e and e[key] not in vocabulary and not is_uri(e[key]):
                problems.append(f"{where}: {key} {e[key]!r} is neither a CBV term nor a URI")
        for key in ("readPoint", "bizLocation"):
            if key in e and not (isinstance(e[key], dict) and is_uri(e[key].get("id"))):
                problems.append(f"{where}: {key}.id is not a URI")
    return problems


@pytest.fixture
async def staff():
    from app.users.models import Role
    from tests.users.factories import auth, create_user

    return auth(await create_user(role=Role.merchant))


ALL_TYPES = [
    "planted",
    "fertilised",
    "irrigated",
    "inspected",
    "harvested",
    "dried",
    "milled",
    "packed",
    "shipped",
    "received",
]


class TestEpcisExport:
    async def test_every_event_type_exports_valid_epcis_2(self, client, staff):
        producer = await f.create_producer()
        plot = await f.create_plot(producer)
        batch = await f.create_batch(producer=producer, plot=plot)
        for day, kind in enumerate(ALL_TYPES, start=1):
            body = {"type": kind, "occurred_at": f"2026-05-{day:02d}T08:00:00+08:00", "location": "民乐乡"}
            assert (
                await client.post(f"/api/admin/batches/{batch.id}/events", json=body, headers=staff)
            ).status_code == 201
        response = await client.get(f"/api/admin/batches/{batch.id}/epcis", headers=staff)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/ld+json")
        doc = response.json()
        assert epcis_problems(doc) == []
        events = doc["epcisBody"]["eventList"]
        assert [e["daoxiang:eventType"] for e in events] == ALL_TYPES
        by_type = {e["daoxiang:eventType"]: e for e in events}
        assert by_type["milled"]["type"] == "TransformationEvent"
        assert by_type["harvested"]["action"] == "ADD" and by_type["harvested"]["bizStep"] == "commissioning"
        assert (
            by_type["shipped"]["bizStep"] == "shipping" and by_type["shipped"]["disposition"] == "in_transit"
        )
        assert by_type["planted"]["eventTime"] == "2026-05-01T08:00:00.000+08:00"
        assert by_type["planted"]["quantityList"][0] == {
            "epcClass": by_type["planted"]["quantityList"][0]["epcClass"],
            "quantity": 1000.0,
            "uom": "KGM",
        }
        # One event id per event, stable across exports.
        again = (await client.get(f"/api/admin/batches/{batch.id}/epcis", headers=staff)).json()
        assert [e["eventID"] for e in again["epcisBody"]["eventList"]] == [e["eventID"] for e in events]
        assert len({e["eventID"] for e in events}) == len(events)

    async def test_gtin_makes_a_gs1_digital_link_lot(self, client, staff):
        product = await create_product(
            skus=[
                {
                    "name": "5kg 真空包装",
                    "price_fen": 5990,
                    "stock": 100,
                    "weight_g": 5000,
                    "gtin": "06901234567892",
                }
            ]
        )
        batch = await f.create_batch(product=product, batch_no="WC2026-01")
        await f.create_event(batch, type="packed")
        doc = (await client.get(f"/api/admin/batches/{batch.id}/epcis", headers=staff)).json()
        assert doc["epcisBody"]["eventList"][0]["quantityList"][0]["epcClass"] == (
            "https://id.gs1.org/01/06901234567892/10/WC2026-01"
        )

    async def test_failed_inspection_is_non_conformant(self, client, staff):
        batch = await f.create_batch()
        await f.create_event(batch, type="inspected", details={"result": "不合格"})
        doc = (await client.get(f"/api/admin/batches/{batch.id}/epcis", headers=staff)).json()
        assert doc["epcisBody"]["eventList"][0]["disposition"] == "non_conformant"

    async def test_the_checker_catches_broken_documents(self):
        broken = {
            "@context": [],
            "type": "EPCISDocument",
            "schemaVersion": "1.2",
            "creationDate": "yesterday",
            "epcisBody": {
                "eventList": [
                    {"type": "ObjectEvent", "eventTime": "2026-05-01T08:00:00", "eventTimeZoneOffset": "8"},
                    {
                        "type": "TransformationEvent",
                        "action": "ADD",
                        "eventTime": "2026-05-01T08:00:00+08:00",
                        "eventTimeZoneOffset": "+08:00",
                        "bizStep": "milling",
                    },
                ]
            },
        }
        problems = epcis_problems(broken)
        for expected in (
            "@context",
            "schemaVersion",
            "creationDate",
            "event 0 (ObjectEvent): action",
            "neither epcList",
            "has no action",
            "no input",
            "no output",
            "bizStep 'milling'",
        ):
            assert any(expected in p for p in problems), expected

    async def test_unknown_batch_is_404(self, client, staff):
        response = await client.get("/api/admin/batches/999/epcis", headers=staff)
        assert response.status_code == 404 and response.json()["code"] == "batch_not_found"
