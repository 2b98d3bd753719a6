"""A batch's events as a GS1 EPCIS 2.0 JSON-LD document (EPCIS 2.0 / CBV 2.0, section 8 of the standard).

The batch is a class-level identifier (a lot): a GS1 Digital Link URI with GTIN and batch when the
product's SKU has a GTIN, otherwise a URI under our own domain. Quantities are in kilograms (UN/CEFACT
`KGM`). Business steps and dispositions use CBV 2.0 terms where CBV has one (harvesting is
`commissioning`, as CBV advises); the farm work CBV does not name (planting, fertilising, irrigating,
drying) uses our own URIs, which EPCIS allows for any vocabulary element.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from app.config import get_settings
from app.db import utcnow
from app.traceability.models import Batch, BatchEvent, Plot, Producer

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
DAOXIANG_NS = "https://daoxiang.example/epcis/"
EVENT_ID_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4d0b-9a53-0d8f2f7b2a11")


def _voc(term: str) -> str:
    return f"{DAOXIANG_NS}voc/{term}"


# type -> (EPCIS event type, action, bizStep, disposition)
MAPPING: dict[str, tuple[str, str | None, str, str]] = {
    "planted": ("ObjectEvent", "OBSERVE", _voc("planting"), "active"),
    "fertilised": ("ObjectEvent", "OBSERVE", _voc("fertilising"), "active"),
    "irrigated": ("ObjectEvent", "OBSERVE", _voc("irrigating"), "active"),
    "inspected": ("ObjectEvent", "OBSERVE", "inspecting", "conformant"),
    "harvested": ("ObjectEvent", "ADD", "commissioning", "active"),
    "dried": ("ObjectEvent", "OBSERVE", _voc("drying"), "in_progress"),
    "milled": ("TransformationEvent", None, "commissioning", "active"),
    "packed": ("ObjectEvent", "OBSERVE", "packing", "in_progress"),
    "shipped": ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    "received": ("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
}


def lot_uri(batch: Batch, gtin: str | None, *, stage: str | None = None) -> str:
    if gtin and stage is None:
        return f"https://id.gs1.org/01/{gtin}/10/{quote(batch.batch_no, safe='')}"
    base = f"{get_settings().public_base_url.rstrip('/')}/epcis/lot/{quote(batch.batch_no, safe='')}"
    return f"{base}/{stage}" if stage else base


def location_uri(kind: str, ident: int) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/epcis/{kind}/{ident}"


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def build_document(
    batch: Batch,
    producer: Producer,
    plot: Plot | None,
    events: list[BatchEvent],
    *,
    gtin: str | None = None,
    local_time: Any,
) -> dict[str, Any]:
    quantity = float(Decimal(batch.quantity_kg))
    lot = lot_uri(batch, gtin)
    biz_location = {"id": location_uri("producer", producer.id)}
    read_point = {"id": location_uri("plot", plot.id)} if plot else biz_location
    event_list = []
    for event in events:
        epcis_type, action, biz_step, disposition = MAPPING[event.type]
        details = event.details or {}
        if event.type == "inspected" and str(details.get("result", "")).lower() in {
            "fail",
            "failed",
            "不合格",
        }:
            disposition = "non_conformant"
        item: dict[str, Any] = {
            "type": epcis_type,
            "eventID": f"urn:uuid:{uuid.uuid5(EVENT_ID_NAMESPACE, event.event_uuid)}",
            "eventTime": _time(local_time(event)),
            "eventTimeZoneOffset": event.tz_offset,
            "recordTime": _time(event.created_at),
        }
        if epcis_type == "ObjectEvent":
            item["action"] = action
            item["quantityList"] = [{"epcClass": lot, "quantity": quantity, "uom": "KGM"}]
        else:
            paddy = lot_uri(batch, gtin, stage="paddy")
            item["inputQuantityList"] = [{"epcClass": paddy, "quantity": quantity, "uom": "KGM"}]
            item["outputQuantityList"] = [{"epcClass": lot, "quantity": quantity, "uom": "KGM"}]
            item["transformationID"] = f"urn:uuid:{uuid.uuid5(EVENT_ID_NAMESPACE, event.event_uuid + ':t')}"
        item["bizStep"] = biz_step
        item["disposition"] = disposition
        item["readPoint"] = read_point
        item["bizLocation"] = biz_location
        item["daoxiang:eventType"] = event.type
        if event.location:
            item["daoxiang:location"] = event.location
        if details:
            item["daoxiang:details"] = details
        event_list.append(item)
    return {
        "@context": [EPCIS_CONTEXT, {"daoxiang": DAOXIANG_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(utcnow()),
        "epcisHeader": {
            "epcisMasterData": {
                "vocabularyList": [
                    {
                        "type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                        "vocabularyElementList": [
                            {
                                "id": biz_location["id"],
                                "attributes": [
                                    {"id": "urn:epcglobal:cbv:mda#name", "attribute": producer.name},
                                    {"id": "urn:epcglobal:cbv:mda#state", "attribute": producer.region},
                                ],
                            }
                        ],
                    }
                ]
            }
        },
        "epcisBody": {"eventList": event_list},
    }
