"""Demo traceability data, all marked 示例: producers, plots, batches with events, certificates, a few codes.

Runs after the catalogue's seeder; products are looked up by name and skipped when absent. Idempotent:
producers are found by name and batches by batch number before anything is added.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product
from app.traceability import certificates, issuing, repository, service
from app.traceability.models import Certificate, CertificateKind, TraceCode
from app.traceability.schemas import BatchCreate, CertificateCreate, EventCreate, PlotCreate, ProducerCreate

PRODUCERS = [
    ProducerCreate(
        name="五常市示例水稻种植合作社（示例）",
        region="黑龙江省哈尔滨市五常市",
        license_no="示例-GI-2301-0001",
        contact_name="王示例",
        contact_phone="0451-00000000",
        address="五常市民乐朝鲜族乡示例村（示例）",
        description="示例数据：种植稻花香2号，全程记录农事。",
    ),
    ProducerCreate(
        name="五常市示例有机农场（示例）",
        region="黑龙江省哈尔滨市五常市",
        license_no="示例-GI-2301-0002",
        contact_name="李示例",
        description="示例数据：有机种植，长粒香。",
    ),
]
PLOTS = {
    PRODUCERS[0].name: PlotCreate(
        name="民乐示例 3 号地（示例）",
        village="民乐朝鲜族乡（示例）",
        area_mu=Decimal("86.50"),
        latitude=Decimal("44.930000"),
        longitude=Decimal("127.150000"),
    ),
    PRODUCERS[1].name: PlotCreate(
        name="龙凤山示例地块（示例）", village="龙凤山镇（示例）", area_mu=Decimal("42.00")
    ),
}
# (batch number, a word the demo product's name contains, producer, variety)
BATCHES = [
    ("SL2026-DHX-01", "稻花香", 0, "稻花香2号"),
    ("SL2026-CLX-01", "长粒香", 1, "五优稻1号"),
    ("SL2026-RICE-01", "米", 0, "稻花香2号"),
]
TIMELINE = [
    ("planted", "2026-05-18T07:30:00+08:00", {"note": "人工插秧（示例）"}),
    ("fertilised", "2026-06-20T06:00:00+08:00", {"fertiliser": "腐熟农家肥（示例）"}),
    ("irrigated", "2026-07-15T05:30:00+08:00", {"water": "拉林河水（示例）"}),
    ("inspected", "2026-08-20T10:00:00+08:00", {"result": "合格", "inspector": "示例检测站"}),
    ("harvested", "2026-09-28T08:30:00+08:00", {"moisture_percent": "17.5"}),
    ("dried", "2026-10-02T09:00:00+08:00", {"method": "自然晾晒（示例）"}),
    ("milled", "2026-10-08T09:00:00+08:00", {"yield_percent": "68"}),
    ("packed", "2026-10-10T14:00:00+08:00", {"package": "5kg 真空包装"}),
]
DEMO_CODES = 3


async def _product_named(session: AsyncSession, word: str) -> Product | None:
    query = select(Product).where(Product.name.contains(word)).order_by(Product.id).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def seed(session: AsyncSession) -> None:
    producers = {}
    for data in PRODUCERS:
        producer = await repository.get_producer_by_name(session, data.name)
        if producer is None:
            producer = await service.create_producer(session, data)
            await service.create_plot(session, producer.id, PLOTS[data.name])
            await certificates.create_certificate(
                session,
                CertificateCreate(
                    kind=CertificateKind.geographical_indication,
                    number=f"{data.license_no}（示例）",
                    issuer="国家知识产权局（示例）",
                    valid_from=date(2025, 1, 1),
                    valid_until=date(2028, 12, 31),
                    producer_id=producer.id,
                ),
            )
        producers[len(producers)] = producer
    used: set[int] = set()
    for batch_no, word, producer_index, variety in BATCHES:
        existing_batch = await repository.get_batch_by_no(session, batch_no)
        if existing_batch is not None:
            used.add(existing_batch.product_id)
            continue
        product = await _product_named(session, word)
        if product is None or product.id in used:
            continue
        used.add(product.id)
        producer = producers[producer_index]
        batch = await service.create_batch(
            session,
            BatchCreate(
                product_id=product.id,
                producer_id=producer.id,
                variety=variety,
                plot=PLOTS[producer.name].name,
                batch_no=batch_no,
                planted_on=date(2026, 5, 18),
                harvested_on=date(2026, 9, 28),
                milled_on=date(2026, 10, 8),
                packed_on=date(2026, 10, 10),
                quantity_kg=Decimal("5000"),
                notes="示例批次",
            ),
        )
        for kind, moment, details in TIMELINE:
            await service.record_event(
                session,
                batch.id,
                EventCreate(
                    type=kind,
                    occurred_at=datetime.fromisoformat(moment),
                    location=f"{PLOTS[producer.name].village}",
                    details=details,
                ),
                recorded_by=None,
            )
        session.add(
            Certificate(
                kind=CertificateKind.green_food.value,
                number=f"示例-LB-{batch_no}",
                issuer="中国绿色食品发展中心（示例）",
                valid_from=date(2026, 1, 1),
                valid_until=service.today() + timedelta(days=365),
                batch_id=batch.id,
            )
        )
        await session.flush()
        existing = (
            await session.execute(
                select(func.count()).select_from(TraceCode).where(TraceCode.batch_id == batch.id)
            )
        ).scalar_one()
        if existing < DEMO_CODES:
            await issuing.issue_codes(session, batch.id, DEMO_CODES - existing)
