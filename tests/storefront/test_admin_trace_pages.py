from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.db import session_scope
from app.kit.time import shop_today
from app.traceability.models import BatchEvent, CodeRun
from app.users.models import Role
from tests.storefront.pages import csrf_from, log_in
from tests.traceability.factories import (
    create_batch,
    create_certificate,
    create_codes,
    create_event,
    create_plot,
    create_producer,
)
from tests.users.factories import create_user


async def as_merchant(client) -> str:
    await log_in(client, await create_user(role=Role.merchant))
    return csrf_from((await client.get("/admin/batches")).text)


class TestBatchPages:
    async def test_list_and_detail_with_events(self, client):
        producer = await create_producer()
        batch = await create_batch(producer=producer, plot=await create_plot(producer, name="民乐3号地"))
        await create_event(batch)
        await as_merchant(client)
        listing = await client.get("/admin/batches")
        assert batch.batch_no in listing.text and "民乐3号地" in listing.text
        detail = await client.get(f"/admin/batches/{batch.id}")
        assert detail.status_code == 200 and "收割" in detail.text and "民乐乡 3 号地" in detail.text

    async def test_record_an_event_in_beijing_time(self, client):
        batch = await create_batch()
        token = await as_merchant(client)
        response = await client.post(
            f"/admin/batches/{batch.id}/events",
            data={
                "type": "milled",
                "occurred_at": "2026-10-08T09:15",
                "location": "五常加工厂",
                "csrf_token": token,
            },
        )
        assert response.headers["location"].endswith("done=event")
        async with session_scope() as session:
            [event] = (await session.execute(select(BatchEvent))).scalars().all()
        assert event.type == "milled" and event.tz_offset == "+08:00" and event.location == "五常加工厂"
        bad = await client.post(
            f"/admin/batches/{batch.id}/events",
            data={"type": "danced", "occurred_at": "x", "csrf_token": token},
        )
        assert bad.headers["location"].endswith("error=event")

    async def test_code_run_progress_and_label_download(self, client):
        batch = await create_batch()
        await create_codes(batch, 3)
        token = await as_merchant(client)
        response = await client.post(
            f"/admin/batches/{batch.id}/code-runs", data={"count": "50", "csrf_token": token}
        )
        assert "run=" in response.headers["location"]
        page = await client.get(response.headers["location"])
        assert "0 / 50" in page.text and 'http-equiv="refresh"' in page.text
        async with session_scope() as session:
            [run] = (await session.execute(select(CodeRun))).scalars().all()
        assert run.requested == 50
        too_many = await client.post(
            f"/admin/batches/{batch.id}/code-runs", data={"count": "0", "csrf_token": token}
        )
        assert too_many.headers["location"].endswith("error=count")
        pdf = await client.get(f"/admin/batches/{batch.id}/labels.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")

    async def test_customers_get_403(self, client):
        batch = await create_batch()
        await log_in(client, await create_user())
        assert (await client.get(f"/admin/batches/{batch.id}")).status_code == 403
        assert (await client.get(f"/admin/batches/{batch.id}/labels.pdf")).status_code == 403


class TestDashboardTracePanels:
    async def test_expiring_certificates_and_suspicious_codes(self, client):
        producer = await create_producer()
        for number, days in (("GI-SOON", 10), ("GI-LATER", 300)):
            await create_certificate(
                number=number, producer_id=producer.id, valid_until=shop_today() + timedelta(days=days)
            )
        batch = await create_batch()
        [code] = await create_codes(batch, 1)
        from app.db import utcnow
        from app.traceability.models import TraceCode

        async with session_scope() as session:
            row = (await session.execute(select(TraceCode).where(TraceCode.code == code))).scalar_one()
            row.scan_count, row.flagged_at = 42, utcnow()
        await as_merchant(client)
        page = await client.get("/admin/")
        assert "GI-SOON" in page.text and "GI-LATER" not in page.text
        assert code in page.text and "扫描 42 次" in page.text
        certificates = await client.get("/admin/certificates")
        assert certificates.text.index("GI-SOON") < certificates.text.index("GI-LATER")
