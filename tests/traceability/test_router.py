from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.db import session_scope
from app.kit.time import shop_today
from app.traceability import codes as codebook
from app.traceability.models import Batch, BatchEvent, Certificate, Plot, Producer, TraceCode, TraceScan
from app.users.models import Role
from tests.catalog.factories import create_product
from tests.problems import assert_problem
from tests.traceability import factories as f
from tests.traceability.helpers import count_rows, events_of, flush_scans
from tests.users.factories import auth, create_user


@pytest.fixture
async def staff():
    return auth(await create_user(role=Role.merchant))


STAFF_ROUTES = [
    ("POST", "/api/admin/producers", {"name": "x", "region": "y", "license_no": "z"}),
    ("GET", "/api/admin/producers", None),
    ("GET", "/api/admin/producers/1", None),
    ("POST", "/api/admin/producers/1/plots", {"name": "x"}),
    ("GET", "/api/admin/producers/1/plots", None),
    ("POST", "/api/admin/batches", {"product_id": 1, "producer_id": 1, "quantity_kg": 1}),
    ("GET", "/api/admin/batches", None),
    ("GET", "/api/admin/batches/1", None),
    ("POST", "/api/admin/batches/1/events", {"type": "milled", "occurred_at": "2026-10-01T08:00:00+08:00"}),
    ("GET", "/api/admin/batches/1/events", None),
    ("GET", "/api/admin/batches/1/epcis", None),
    ("POST", "/api/admin/certificates", None),
    ("GET", "/api/admin/certificates", None),
    ("GET", "/api/admin/certificates/1", None),
    ("GET", "/api/admin/certificates/1/file", None),
    ("GET", "/api/admin/traceability/flagged-products", None),
    ("POST", "/api/admin/batches/1/codes", {"count": 1}),
    ("GET", "/api/admin/batches/1/codes", None),
    ("GET", "/api/admin/batches/1/codes/labels.pdf", None),
    ("GET", "/api/admin/batches/1/codes.csv", None),
    ("POST", "/api/admin/batches/1/code-runs", {"count": 5000}),
    ("GET", "/api/admin/code-runs/1", None),
    ("POST", "/api/admin/trace-codes/revoke", {"codes": ["x"]}),
]


class TestStaffOnly:
    @pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
    async def test_anonymous_is_401(self, client, method, path, body):
        response = await client.request(method, path, json=body)
        assert_problem(response, 401, "not_authenticated")

    @pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
    async def test_customer_is_403(self, client, method, path, body):
        customer = await create_user()
        response = await client.request(method, path, json=body, headers=auth(customer))
        assert_problem(response, 403, "forbidden")

    async def test_uploads_are_staff_only(self, client):
        customer = await create_user()
        files = {"file": ("x.pdf", b"%PDF-1.4\n", "application/pdf")}
        assert_problem(
            await client.put("/api/admin/certificates/1/file", files=files), 401, "not_authenticated"
        )
        assert_problem(
            await client.put("/api/admin/batches/1/events/1/photo", files=files, headers=auth(customer)),
            403,
            "forbidden",
        )


class TestProducers:
    async def test_create_with_contract_fields(self, client, staff):
        response = await client.post(
            "/api/admin/producers",
            json={"name": "五常市民乐合作社", "region": "黑龙江省五常市", "license_no": "GI-2026-0001"},
            headers=staff,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["name"] == "五常市民乐合作社" and body["license_no"] == "GI-2026-0001"
        assert (await client.get(f"/api/admin/producers/{body['id']}", headers=staff)).json() == body
        listing = (await client.get("/api/admin/producers", headers=staff)).json()
        assert listing["total"] == 1 and listing["items"] == [body]
        assert (await events_of("producer.created"))[0]["producer_id"] == body["id"]

    async def test_duplicate_name_is_409(self, client, staff):
        producer = await f.create_producer()
        body = {"name": producer.name, "region": "x", "license_no": "y"}
        assert_problem(
            await client.post("/api/admin/producers", json=body, headers=staff), 409, "producer_name_taken"
        )
        assert await count_rows(Producer) == 1

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "a", "region": "b"},
            {"name": "", "region": "b", "license_no": "c"},
            {"name": "a", "region": "b", "license_no": "c", "is_admin": True},
            {"name": "a" * 101, "region": "b", "license_no": "c"},
        ],
    )
    async def test_bad_input_is_422_and_creates_nothing(self, client, staff, body):
        assert_problem(
            await client.post("/api/admin/producers", json=body, headers=staff), 422, "validation_error"
        )
        assert await count_rows(Producer) == 0

    async def test_plots_keep_area_in_mu_as_decimal(self, client, staff):
        producer = await f.create_producer()
        response = await client.post(
            f"/api/admin/producers/{producer.id}/plots",
            json={"name": "民乐 3 号地", "village": "民乐朝鲜族乡", "area_mu": "12.35", "latitude": 44.93},
            headers=staff,
        )
        assert response.status_code == 201, response.text
        assert response.json()["area_mu"] == "12.35"
        plots = (await client.get(f"/api/admin/producers/{producer.id}/plots", headers=staff)).json()
        assert [p["name"] for p in plots] == ["民乐 3 号地"]
        bad = await client.post(
            f"/api/admin/producers/{producer.id}/plots", json={"name": "x", "area_mu": "1.234"}, headers=staff
        )
        assert_problem(bad, 422, "validation_error")
        missing = await client.post("/api/admin/producers/999/plots", json={"name": "x"}, headers=staff)
        assert_problem(missing, 404, "producer_not_found")


class TestBatches:
    async def test_create_with_plot_name_creates_the_plot(self, client, staff):
        product, producer = await create_product(shelf_life_days=365), await f.create_producer()
        body = {
            "product_id": product.id,
            "producer_id": producer.id,
            "variety": "稻花香2号",
            "plot": "民乐 3 号地",
            "harvested_on": "2026-09-28",
            "milled_on": "2026-10-08",
            "quantity_kg": "1250.5",
        }
        response = await client.post("/api/admin/batches", json=body, headers=staff)
        assert response.status_code == 201, response.text
        batch = response.json()
        assert batch["plot"]["name"] == "民乐 3 号地" and batch["plot"]["producer_id"] == producer.id
        assert batch["quantity_kg"] == "1250.500" and batch["quantity_left_kg"] == "1250.500"
        # Best-before defaults to milling plus the product's shelf life.
        assert batch["best_before_on"] == (date(2026, 10, 8) + timedelta(days=365)).isoformat()
        assert batch["batch_no"]
        # The same name again finds the same plot.
        again = await client.post("/api/admin/batches", json=body, headers=staff)
        assert again.json()["plot_id"] == batch["plot_id"]
        assert await count_rows(Plot) == 1
        assert len(await events_of("batch.created")) == 2
        assert (await client.get(f"/api/admin/batches/{batch['id']}", headers=staff)).json() == batch

    async def test_plot_by_id_must_be_the_producers(self, client, staff):
        product, producer, other = (
            await create_product(),
            await f.create_producer(),
            await f.create_producer(),
        )
        plot = await f.create_plot(producer)
        foreign = await f.create_plot(other)
        base = {"product_id": product.id, "producer_id": producer.id, "quantity_kg": 10}
        ok = await client.post("/api/admin/batches", json={**base, "plot": plot.id}, headers=staff)
        assert ok.status_code == 201 and ok.json()["plot_id"] == plot.id
        wrong = await client.post("/api/admin/batches", json={**base, "plot": foreign.id}, headers=staff)
        assert_problem(wrong, 422, "plot_of_another_producer")
        missing = await client.post("/api/admin/batches", json={**base, "plot": 99999}, headers=staff)
        assert_problem(missing, 404, "plot_not_found")
        assert await count_rows(Batch) == 1

    @pytest.mark.parametrize(
        ("change", "status", "code"),
        [
            ({"product_id": 99999}, 404, "product_not_found"),
            ({"producer_id": 99999}, 404, "producer_not_found"),
            ({"quantity_kg": 0}, 422, "validation_error"),
            ({"quantity_kg": "1.2345"}, 422, "validation_error"),
            ({"quantity_kg": True}, 422, "validation_error"),
            ({"product_id": "1"}, 422, "validation_error"),
            ({"harvested_on": "2026-10-10", "milled_on": "2026-10-01"}, 422, "validation_error"),
            ({"harvested_on": "2026-13-40"}, 422, "validation_error"),
            ({"batch_no": "a b"}, 422, "validation_error"),
            ({"colour": "gold"}, 422, "validation_error"),
        ],
    )
    async def test_bad_input_changes_nothing(self, client, staff, change, status, code):
        product, producer = await create_product(), await f.create_producer()
        body = {"product_id": product.id, "producer_id": producer.id, "quantity_kg": 10, **change}
        assert_problem(await client.post("/api/admin/batches", json=body, headers=staff), status, code)
        assert await count_rows(Batch) == 0 and await count_rows(Plot) == 0

    async def test_duplicate_batch_no_is_409(self, client, staff):
        batch = await f.create_batch()
        body = {
            "product_id": batch.product_id,
            "producer_id": batch.producer_id,
            "quantity_kg": 1,
            "batch_no": batch.batch_no,
        }
        assert_problem(
            await client.post("/api/admin/batches", json=body, headers=staff), 409, "batch_no_taken"
        )

    async def test_list_filters_by_product(self, client, staff):
        a = await f.create_batch()
        await f.create_batch()
        page = (await client.get(f"/api/admin/batches?product_id={a.product_id}", headers=staff)).json()
        assert page["total"] == 1 and page["items"][0]["id"] == a.id
        assert_problem(await client.get("/api/admin/batches/99999", headers=staff), 404, "batch_not_found")


class TestBatchEvents:
    async def test_event_keeps_its_local_time_zone(self, client, staff):
        batch = await f.create_batch()
        body = {
            "type": "harvested",
            "occurred_at": "2026-09-28T08:30:00+08:00",
            "location": "民乐乡 3 号地",
            "details": {"moisture_percent": 15.5},
        }
        response = await client.post(f"/api/admin/batches/{batch.id}/events", json=body, headers=staff)
        assert response.status_code == 201, response.text
        event = response.json()
        assert event["occurred_at"] == "2026-09-28T08:30:00+08:00" and event["time_zone_offset"] == "+08:00"
        assert event["details"] == {"moisture_percent": 15.5}
        listing = (await client.get(f"/api/admin/batches/{batch.id}/events", headers=staff)).json()
        assert listing == [event]
        assert (await events_of("batch.event_recorded"))[0]["type"] == "harvested"

    @pytest.mark.parametrize(
        "body",
        [
            {"type": "stolen", "occurred_at": "2026-09-28T08:30:00+08:00"},
            {"type": "milled", "occurred_at": "2026-09-28T08:30:00"},
            {"type": "milled"},
            {"type": "milled", "occurred_at": "2026-09-28T08:30:00+08:00", "details": {"x": "y" * 5000}},
            {"type": "milled", "occurred_at": "2026-09-28T08:30:00+08:00", "why": "x"},
        ],
    )
    async def test_bad_events_are_422(self, client, staff, body):
        batch = await f.create_batch()
        response = await client.post(f"/api/admin/batches/{batch.id}/events", json=body, headers=staff)
        assert_problem(response, 422, "validation_error")
        assert await count_rows(BatchEvent) == 0

    async def test_event_of_unknown_batch_is_404(self, client, staff):
        body = {"type": "milled", "occurred_at": "2026-10-01T08:00:00+08:00"}
        assert_problem(
            await client.post("/api/admin/batches/999/events", json=body, headers=staff),
            404,
            "batch_not_found",
        )

    async def test_photo_is_sniffed_from_bytes_reencoded_and_served_publicly(self, client, staff):
        batch = await f.create_batch()
        event = await f.create_event(batch)
        png = _png_bytes()
        url = f"/api/admin/batches/{batch.id}/events/{event.id}/photo"
        fake = await client.put(
            url, files={"file": ("a.png", b"<script>alert(1)</script>", "image/png")}, headers=staff
        )
        assert_problem(fake, 415, "unsupported_file_type")
        response = await client.put(
            url, files={"file": ("a.bin", png, "application/octet-stream")}, headers=staff
        )
        assert response.status_code == 200, response.text
        photo = await client.get(response.json()["photo_url"])
        # Re-encoded like product images: a JPEG of the same picture, never the uploaded bytes.
        assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8\xff")
        assert photo.headers["content-type"] == "image/jpeg"
        assert photo.headers["x-content-type-options"] == "nosniff"
        wrong_batch = await client.put(
            f"/api/admin/batches/{batch.id + 1}/events/{event.id}/photo",
            files={"file": ("a.png", png)},
            headers=staff,
        )
        assert_problem(wrong_batch, 404, "batch_event_not_found")


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(buffer, "PNG")
    return buffer.getvalue()


class TestCertificates:
    async def test_create_for_each_owner_and_see_expiry(self, client, staff):
        batch = await f.create_batch()
        today = shop_today()
        for owner in (
            {"producer_id": batch.producer_id},
            {"batch_id": batch.id},
            {"product_id": batch.product_id},
        ):
            body = {
                "kind": "green_food",
                "number": "LB-18-2026",
                "issuer": "中国绿色食品发展中心",
                "valid_from": (today - timedelta(days=400)).isoformat(),
                "valid_until": (today - timedelta(days=1)).isoformat(),
                **owner,
            }
            response = await client.post("/api/admin/certificates", json=body, headers=staff)
            assert response.status_code == 201, response.text
            assert response.json()["expired"] is True and response.json()["status"] == "expired"
        valid = await client.post(
            "/api/admin/certificates",
            json={
                "kind": "organic",
                "number": "ORG-1",
                "issuer": "x",
                "valid_from": today.isoformat(),
                "valid_until": today.isoformat(),
                "product_id": batch.product_id,
            },
            headers=staff,
        )
        assert valid.json()["status"] == "valid" and valid.json()["expired"] is False
        page = (
            await client.get(f"/api/admin/certificates?product_id={batch.product_id}", headers=staff)
        ).json()
        assert page["total"] == 2
        assert len(await events_of("certificate.created")) == 4

    @pytest.mark.parametrize(
        "owners",
        [{}, {"producer_id": 1, "batch_id": 1}, {"producer_id": 1, "batch_id": 1, "product_id": 1}],
    )
    async def test_exactly_one_owner(self, client, staff, owners):
        body = {
            "kind": "organic",
            "number": "n",
            "issuer": "i",
            "valid_from": "2026-01-01",
            "valid_until": "2027-01-01",
            **owners,
        }
        assert_problem(
            await client.post("/api/admin/certificates", json=body, headers=staff), 422, "validation_error"
        )
        assert await count_rows(Certificate) == 0

    @pytest.mark.parametrize(
        ("change", "status", "code"),
        [
            ({"kind": "fake"}, 422, "validation_error"),
            ({"valid_until": "2025-01-01"}, 422, "validation_error"),
            ({"producer_id": 99999}, 404, "producer_not_found"),
        ],
    )
    async def test_bad_input(self, client, staff, change, status, code):
        body = {
            "kind": "organic",
            "number": "n",
            "issuer": "i",
            "valid_from": "2026-01-01",
            "valid_until": "2027-01-01",
            "producer_id": 99999,
            **change,
        }
        assert_problem(await client.post("/api/admin/certificates", json=body, headers=staff), status, code)

    async def test_uploaded_scan_is_sniffed(self, client, staff):
        producer = await f.create_producer()
        cert = await f.create_certificate(producer_id=producer.id)
        url = f"/api/admin/certificates/{cert.id}/file"
        exe = await client.put(
            url, files={"file": ("c.pdf", b"MZ\x90\x00binary", "application/pdf")}, headers=staff
        )
        assert_problem(exe, 415, "unsupported_file_type")
        pdf = b"%PDF-1.4\n%test\n"
        response = await client.put(url, files={"file": ("scan", pdf, "text/plain")}, headers=staff)
        assert response.status_code == 200
        assert (
            response.json()["has_file"] is True and response.json()["file_content_type"] == "application/pdf"
        )
        download = await client.get(url, headers=staff)
        assert download.content == pdf and download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"] == f'attachment; filename="certificate-{cert.id}.pdf"'
        assert download.headers["x-content-type-options"] == "nosniff"


class TestIssueCodes:
    async def test_issue_codes_contract(self, client, staff):
        batch = await f.create_batch()
        response = await client.post(
            f"/api/admin/batches/{batch.id}/codes", json={"count": 50}, headers=staff
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"batch_id", "count", "codes"}
        assert body["batch_id"] == batch.id and body["count"] == 50 and len(set(body["codes"])) == 50
        assert all(codebook.normalize(c) == c for c in body["codes"])
        assert await count_rows(TraceCode) == 50
        page = (await client.get(f"/api/admin/batches/{batch.id}/codes?size=100", headers=staff)).json()
        assert page["total"] == 50 and {c["code"] for c in page["items"]} == set(body["codes"])

    @pytest.mark.parametrize("count", [0, 1001, -1, "10", 2.5])
    async def test_count_out_of_range_is_422(self, client, staff, count):
        batch = await f.create_batch()
        response = await client.post(
            f"/api/admin/batches/{batch.id}/codes", json={"count": count}, headers=staff
        )
        assert_problem(response, 422, "validation_error")
        assert await count_rows(TraceCode) == 0

    async def test_thousand_at_once(self, client, staff):
        batch = await f.create_batch()
        response = await client.post(
            f"/api/admin/batches/{batch.id}/codes", json={"count": 1000}, headers=staff
        )
        assert response.status_code == 201 and len(set(response.json()["codes"])) == 1000

    async def test_unknown_batch_is_404(self, client, staff):
        assert_problem(
            await client.post("/api/admin/batches/999/codes", json={"count": 1}, headers=staff),
            404,
            "batch_not_found",
        )

    async def test_a_colliding_code_is_drawn_again(self, client, staff, monkeypatch):
        batch = await f.create_batch()
        [taken] = await f.create_codes(batch, 1)
        fresh = codebook.new_code()
        draws = iter([taken, fresh])
        monkeypatch.setattr(codebook, "new_code", lambda: next(draws))
        response = await client.post(f"/api/admin/batches/{batch.id}/codes", json={"count": 1}, headers=staff)
        assert response.status_code == 201
        assert response.json()["codes"] == [fresh]

    async def test_revoke(self, client, staff):
        batch = await f.create_batch()
        codes = await f.create_codes(batch, 3)
        response = await client.post(
            "/api/admin/trace-codes/revoke",
            json={"codes": [codebook.pretty(codes[0]).lower(), codes[1], "NOT-A-CODE"], "reason": "包装破损"},
            headers=staff,
        )
        assert response.status_code == 200
        assert response.json() == {"revoked": 2, "unknown": ["NOT-A-CODE"]}
        assert (await f.get_code(codes[0])).revoked_reason == "包装破损"
        assert (await f.get_code(codes[2])).revoked_at is None


class TestCsv:
    async def test_csv_lists_every_code_with_its_url(self, client, staff):
        batch = await f.create_batch()
        codes = await f.create_codes(batch, 5)
        response = await client.get(f"/api/admin/batches/{batch.id}/codes.csv", headers=staff)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert {r["code"] for r in rows} == set(codes)
        assert all(r["url"] == f"{get_settings().public_base_url}/trace/{r['code']}" for r in rows)
        assert all(r["batch_no"] == batch.batch_no and r["status"] == "active" for r in rows)


class TestVerify:
    async def test_verification_contract(self, client):
        product = await create_product(name="五常大米 稻花香2号")
        producer = await f.create_producer(name="五常市示例合作社", license_no="GI-001")
        plot = await f.create_plot(producer, name="民乐 3 号地")
        batch = await f.create_batch(product=product, producer=producer, plot=plot)
        await f.create_event(batch, type="milled", occurred_at=_at("2026-10-08T09:00:00+08:00"))
        await f.create_event(batch, type="harvested", occurred_at=_at("2026-09-28T08:30:00+08:00"))
        await f.create_certificate(producer_id=producer.id)
        await f.create_certificate(
            kind="organic", batch_id=batch.id, valid_until=shop_today() - timedelta(days=1)
        )
        [code] = await f.create_codes(batch)

        response = await client.get(f"/api/trace/{code}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert {
            "code",
            "verdict",
            "scan_count",
            "first_scanned_at",
            "product",
            "batch",
            "certificates",
        } <= set(body)
        assert body["code"] == code and body["verdict"] == "genuine" and body["reasons"] == []
        assert body["scan_count"] == 1 and body["first_scanned_at"]
        assert body["product"]["name"] == "五常大米 稻花香2号"
        assert body["batch"]["producer"]["name"] == "五常市示例合作社"
        assert body["batch"]["plot"]["name"] == "民乐 3 号地"
        assert [e["type"] for e in body["batch"]["events"]] == ["harvested", "milled"]
        assert body["batch"]["events"][0]["occurred_at"] == "2026-09-28T08:30:00+08:00"
        assert sorted((c["kind"], c["expired"]) for c in body["certificates"]) == [
            ("geographical_indication", False),
            ("organic", True),
        ]
        second = (await client.get(f"/api/trace/{code.lower()}")).json()
        assert second["scan_count"] == 2 and second["first_scanned_at"] == body["first_scanned_at"]

    async def test_each_scan_is_logged_with_truncated_address_and_user_agent_only(self, client):
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        await client.get(f"/api/trace/{code}", headers={"User-Agent": "MicroMessenger/8.0"})
        await flush_scans()
        async with session_scope() as session:
            scans = (await session.execute(select(TraceScan))).scalars().all()
        assert len(scans) == 1
        assert scans[0].client_network == "203.0.113.0/24"  # the client is 203.0.113.7
        assert scans[0].user_agent == "MicroMessenger/8.0"
        events = await events_of("trace_code.scanned")
        assert events[0]["code"] == code and events[0]["scan_count"] == 1
        assert "203.0.113" not in str(events)

    @pytest.mark.parametrize(
        "raw",
        [
            "A" * 300,
            "' OR '1'='1",
            "1;DROP TABLE trace_codes",
            "%27%20OR%201=1--",
            "0000000000000",
            "null",
            "中文码",
        ],
    )
    async def test_malformed_codes_are_404_unknown_code(self, client, raw):
        batch = await f.create_batch()
        await f.create_codes(batch)
        assert_problem(await client.get(f"/api/trace/{raw}"), 404, "unknown_code")
        assert await count_rows(TraceCode) == 1 and await count_rows(TraceScan) == 0

    async def test_unknown_well_formed_code_is_404(self, client):
        assert_problem(await client.get(f"/api/trace/{codebook.new_code()}"), 404, "unknown_code")

    async def test_mistyped_code_is_rejected_without_a_database_lookup(self, client):
        from sqlalchemy import event

        from app.db import get_engine

        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        position = 5
        replacement = next(s for s in codebook.ALPHABET if s != code[position])
        typo = code[:position] + replacement + code[position + 1 :]
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        engine = get_engine().sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            response = await client.get(f"/api/trace/{typo}")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert_problem(response, 404, "unknown_code")
        assert not [s for s in statements if "trace_codes" in s]
        assert (await f.get_code(code)).scan_count == 0

    async def test_misses_are_rate_limited_per_client(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_max_misses_per_ip", 3)
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        for _ in range(3):
            assert_problem(await client.get(f"/api/trace/{codebook.new_code()}"), 404, "unknown_code")
        limited = await client.get(f"/api/trace/{codebook.new_code()}")
        assert_problem(limited, 429, "too_many_attempts")
        assert int(limited.headers["retry-after"]) >= 1
        # A real code still answers: junk codes from a shared address never block a genuine check.
        assert (await client.get(f"/api/trace/{code}")).json()["verdict"] == "genuine"

    async def test_suspicious_after_threshold_of_scanners_and_flagged_once(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_suspicious_scanners", 3)
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        verdicts = [
            (await client.get(f"/api/trace/{code}", headers={"User-Agent": f"phone {i}"})).json()
            for i in range(5)
        ]
        assert [v["verdict"] for v in verdicts] == ["genuine"] * 3 + ["suspicious"] * 2
        assert verdicts[3]["reasons"] == ["scanned_too_widely"]
        assert verdicts[3]["scan_count"] == 4 and verdicts[3]["scanner_count"] == 4
        flagged = await events_of("trace_code.flagged")
        assert len(flagged) == 1 and flagged[0]["reasons"] == ["scanned_too_widely"]
        assert flagged[0]["scanner_count"] == 4

    async def test_one_scanner_never_makes_a_code_suspicious(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_suspicious_scanners", 3)
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        for n in range(1, 41):
            body = (await client.get(f"/api/trace/{code}", headers={"User-Agent": "MicroMessenger"})).json()
            assert body["verdict"] == "genuine" and body["scan_count"] == n and body["scanner_count"] == 1
        assert await events_of("trace_code.flagged") == []

    async def test_default_threshold_is_10_scanners(self, client):
        assert get_settings().trace_suspicious_scanners == 10
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        for i in range(10):
            body = (await client.get(f"/api/trace/{code}", headers={"User-Agent": f"ua {i}"})).json()
            assert body["verdict"] == "genuine"
        body = (await client.get(f"/api/trace/{code}", headers={"User-Agent": "ua 10"})).json()
        assert body["verdict"] == "suspicious" and body["scanner_count"] == 11

    async def test_revoked_code_is_suspicious(self, client, staff):
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        await client.post("/api/admin/trace-codes/revoke", json={"codes": [code]}, headers=staff)
        body = (await client.get(f"/api/trace/{code}")).json()
        assert body["verdict"] == "suspicious" and body["reasons"] == ["revoked"]

    async def test_past_best_before_is_suspicious(self, client):
        batch = await f.create_batch(best_before_on=shop_today() - timedelta(days=2))
        [code] = await f.create_codes(batch)
        body = (await client.get(f"/api/trace/{code}")).json()
        assert body["verdict"] == "suspicious" and body["reasons"] == ["past_best_before"]
        assert (await events_of("trace_code.flagged"))[0]["reasons"] == ["past_best_before"]


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)
