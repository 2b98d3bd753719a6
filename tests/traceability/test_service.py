"""Certificates' expiry (warning job, flagged products, the checkout guard), code runs and product stories."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.config import get_settings
from app.db import session_scope
from app.kit.time import shop_today
from app.traceability import certificates as trace_certificates
from app.traceability import issuing as trace_issuing
from app.traceability import stories as trace_stories
from app.traceability.errors import SaleBlockedExpiredGI
from app.traceability.models import CodeRun, TraceCode
from app.users.models import Role
from app.worker import run_job
from tests.catalog.factories import create_product
from tests.traceability import factories as f
from tests.traceability.helpers import count_rows, events_of
from tests.users.factories import auth, create_user

TODAY = shop_today()


class TestCertificateExpiryWarning:
    async def test_warns_once_30_days_before_expiry(self):
        producer = await f.create_producer()
        soon = await f.create_certificate(
            producer_id=producer.id, valid_until=shop_today() + timedelta(days=30)
        )
        await f.create_certificate(producer_id=producer.id, valid_until=shop_today() + timedelta(days=31))
        await f.create_certificate(producer_id=producer.id, valid_until=shop_today() - timedelta(days=1))
        assert await run_job("traceability.warn_expiring_certificates") == 1
        assert await run_job("traceability.warn_expiring_certificates") == 0
        warnings = await events_of("certificate.expiring")
        assert len(warnings) == 1
        assert warnings[0]["certificate_id"] == soon.id and warnings[0]["days_left"] == 30

    @pytest.mark.mysql_only
    async def test_several_workers_warn_once(self):
        producer = await f.create_producer()
        for _ in range(5):
            await f.create_certificate(producer_id=producer.id, valid_until=shop_today() + timedelta(days=3))

        async def worker() -> int:
            async with session_scope() as session:
                return await trace_certificates.warn_expiring_certificates(session)

        results = await asyncio.gather(*(worker() for _ in range(4)))
        assert sum(results) == 5
        assert len(await events_of("certificate.expiring")) == 5


class TestFlaggedProducts:
    async def test_product_whose_only_gi_expired_is_flagged(self, client):
        staff = auth(await create_user(role=Role.merchant))
        expired_product, fine_product, renewed_product = (
            await create_product(),
            await create_product(),
            await create_product(),
        )
        await f.create_certificate(product_id=expired_product.id, valid_until=TODAY - timedelta(days=1))
        await f.create_certificate(product_id=fine_product.id)
        # A producer's GI covers the products of its batches; a renewal clears the flag.
        producer = await f.create_producer()
        await f.create_batch(product=renewed_product, producer=producer)
        await f.create_certificate(producer_id=producer.id, valid_until=TODAY - timedelta(days=100))
        await f.create_certificate(producer_id=producer.id)
        # Organic certificates do not count.
        await f.create_certificate(
            kind="organic", product_id=fine_product.id, valid_until=TODAY - timedelta(days=9)
        )

        response = await client.get("/api/admin/traceability/flagged-products", headers=staff)
        assert response.status_code == 200
        flagged = response.json()
        assert [p["product_id"] for p in flagged] == [expired_product.id]
        assert flagged[0]["gi_certificates"][0]["expired"] is True

    async def test_assert_sellable_blocks_only_with_the_setting(self, monkeypatch):
        product = await create_product()
        ok_product = await create_product()
        await f.create_certificate(product_id=product.id, valid_until=TODAY - timedelta(days=1))
        async with session_scope() as session:
            await trace_certificates.assert_sellable(
                session, [product.id, ok_product.id]
            )  # setting off: sells
        monkeypatch.setattr(get_settings(), "block_sale_on_expired_gi", True)
        async with session_scope() as session:
            await trace_certificates.assert_sellable(session, [ok_product.id])
            with pytest.raises(SaleBlockedExpiredGI) as caught:
                await trace_certificates.assert_sellable(session, [product.id, ok_product.id])
        assert caught.value.status_code == 409 and caught.value.code == "gi_certificate_expired"
        assert caught.value.extra["product_ids"] == [product.id]


class TestCodeRuns:
    async def test_large_run_is_issued_in_chunks_with_progress(self, client, monkeypatch):
        staff = auth(await create_user(role=Role.merchant))
        monkeypatch.setattr(trace_issuing, "CODE_RUN_CHUNK", 1000)
        batch = await f.create_batch()
        response = await client.post(
            f"/api/admin/batches/{batch.id}/code-runs", json={"count": 2500}, headers=staff
        )
        assert response.status_code == 202, response.text
        run = response.json()
        assert run["status"] == "pending" and run["issued"] == 0 and run["progress_percent"] == 0
        async with session_scope() as session:
            assert await trace_issuing.process_code_run_chunk(session, 1000) == 1000
        progress = (await client.get(f"/api/admin/code-runs/{run['id']}", headers=staff)).json()
        assert (
            progress["issued"] == 1000
            and progress["progress_percent"] == 40
            and progress["status"] == "running"
        )
        await run_job("traceability.process_code_runs")
        done = (await client.get(f"/api/admin/code-runs/{run['id']}", headers=staff)).json()
        assert done["status"] == "done" and done["issued"] == 2500 and done["finished_at"]
        assert await count_rows(TraceCode) == 2500
        page = (
            await client.get(f"/api/admin/batches/{batch.id}/codes?run_id={run['id']}", headers=staff)
        ).json()
        assert page["total"] == 2500
        assert (await events_of("trace_codes.issued"))[-1] == {
            "batch_id": batch.id,
            "count": 2500,
            "run_id": run["id"],
        }

    @pytest.mark.parametrize("count", [0, 100_001])
    async def test_run_size_is_bounded(self, client, count):
        staff = auth(await create_user(role=Role.merchant))
        batch = await f.create_batch()
        response = await client.post(
            f"/api/admin/batches/{batch.id}/code-runs", json={"count": count}, headers=staff
        )
        assert response.status_code == 422
        assert await count_rows(CodeRun) == 0

    @pytest.mark.mysql_only
    async def test_several_workers_issue_exactly_the_requested_codes(self):
        batch = await f.create_batch()
        async with session_scope() as session:
            for _ in range(3):
                await trace_issuing.start_code_run(session, batch.id, 1500, requested_by=None)

        async def worker() -> int:
            total = 0
            while True:
                async with session_scope() as session:
                    n = await trace_issuing.process_code_run_chunk(session, 500)
                if not n:
                    return total
                total += n

        await asyncio.gather(*(worker() for _ in range(4)))
        assert await count_rows(TraceCode) == 4500
        async with session_scope() as session:
            from sqlalchemy import select

            runs = (await session.execute(select(CodeRun))).scalars().all()
        assert all(r.issued == 1500 and r.status == "done" for r in runs)


class TestProductStory:
    async def test_batches_and_certificates_for_the_product_detail(self):
        product = await create_product()
        producer = await f.create_producer(name="五常示例合作社")
        plot = await f.create_plot(producer, name="3 号地")
        batch = await f.create_batch(product=product, producer=producer, plot=plot)
        await f.create_event(batch, type="harvested")
        await f.create_certificate(producer_id=producer.id, number="GI-1")
        await f.create_certificate(
            kind="organic", batch_id=batch.id, number="ORG-1", valid_until=TODAY - timedelta(days=1)
        )
        await f.create_certificate(product_id=(await create_product()).id, number="OTHER")
        async with session_scope() as session:
            story = await trace_stories.product_story(session, product.id)
        import json

        json.dumps(story)  # JSON-ready
        [b] = story["batches"]
        assert b["batch_no"] == batch.batch_no and b["producer"]["name"] == "五常示例合作社"
        assert b["plot"]["name"] == "3 号地" and b["plot"]["area_mu"] == "12.50"
        assert b["events"][0]["type"] == "harvested"
        assert sorted((c["number"], c["expired"]) for c in story["certificates"]) == [
            ("GI-1", False),
            ("ORG-1", True),
        ]
        async with session_scope() as session:
            assert await trace_stories.product_story(session, 999_999) == {"batches": [], "certificates": []}


class TestSeed:
    async def test_seed_is_idempotent_and_marked_as_sample(self):
        from app.traceability import seed
        from app.traceability.models import Batch, BatchEvent, Certificate, Producer

        await create_product(name="五常大米 稻花香2号 示例")
        for _ in range(2):
            async with session_scope() as session:
                await seed.seed(session)
        assert await count_rows(Producer) == 2 and await count_rows(Batch) == 1
        assert await count_rows(BatchEvent) == len(seed.TIMELINE)
        assert await count_rows(TraceCode) == seed.DEMO_CODES
        assert await count_rows(Certificate) == 3
        async with session_scope() as session:
            from sqlalchemy import select

            names = (await session.execute(select(Producer.name))).scalars().all()
        assert all("示例" in n for n in names)

    async def test_seed_without_products_adds_producers_only(self):
        from app.traceability import seed
        from app.traceability.models import Batch, Producer

        async with session_scope() as session:
            await seed.seed(session)
        assert await count_rows(Producer) == 2 and await count_rows(Batch) == 0
