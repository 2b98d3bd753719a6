"""The demo shop's shelves: categories, 13 products with 2.5 kg / 5 kg / 10 kg SKUs, and cover images drawn
with Pillow at seed time (nothing is downloaded). Idempotent: products are matched by name, and a missing
cover file is drawn again."""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from pypinyin import lazy_pinyin
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import gallery, images, service
from app.catalog.models import Category, Product, ProductImage
from app.catalog.schemas import ProductCreate, SkuCreate

CATEGORY_TREE: dict[str, list[str]] = {
    "大米": ["五常大米", "东北大米", "有机大米"],
    "杂粮": ["小米", "豆类", "五谷杂粮"],
    "山珍干货": [],
    "礼盒": [],
}


@dataclass
class DemoProduct:
    name: str
    category: str
    subtitle: str
    description: str
    variety: str
    skus: list[tuple[str, int, int, int, int | None]]  # name, price_fen, stock, weight_g, original_price_fen
    colour: tuple[int, int, int]
    origin: str = "黑龙江五常"
    grade: str = "一级"
    harvest_year: int | None = 2026
    shelf_life_days: int | None = 365
    storage_advice: str = "阴凉干燥处密封保存，开袋后尽快食用"
    sales: int = 0
    sort_weight: int = 0
    extra: dict = field(default_factory=dict)


def _rice(p25: int, p5: int, p10: int, stock=(120, 200, 80)) -> list[tuple[str, int, int, int, int | None]]:
    return [
        ("2.5kg 真空包装", p25, stock[0], 2500, None),
        ("5kg 真空包装", p5, stock[1], 5000, round(p5 * 1.15 / 100) * 100),
        ("10kg 家庭装", p10, stock[2], 10000, None),
    ]


PRODUCTS = [
    DemoProduct(
        "五常大米 稻花香2号",
        "五常大米",
        "2026 新米 · 民乐乡核心产区 · 当季现磨",
        "产自黑龙江五常市民乐朝鲜族乡，松嫩平原黑土地一年一季。稻花香2号米粒细长、晶莹透亮，"
        "蒸煮时满屋稻香，米饭软而不粘、冷后不回生。每批稻谷低温仓储，按订单现磨现发，"
        "保留胚芽和米香。（示例商品）",
        "稻花香2号",
        _rice(6980, 12800, 23800),
        (226, 196, 120),
        sales=1860,
        sort_weight=100,
    ),
    DemoProduct(
        "五常大米 长粒香",
        "五常大米",
        "长粒清香 · 口感劲道 · 日常口粮之选",
        "长粒香品种米形修长，米香清淡，饭粒分明有嚼劲，适合炒饭与日常三餐。"
        "五常本地合作社种植，秋收后自然晾晒，当月碾米。（示例商品）",
        "五优稻1号（长粒香）",
        _rice(4990, 8900, 16900),
        (214, 184, 132),
        sales=920,
        sort_weight=80,
    ),
    DemoProduct(
        "五常大米 圆粒香",
        "五常大米",
        "圆润饱满 · 软糯香甜 · 煮粥更香",
        "圆粒香米粒短圆、油润有光泽，支链淀粉含量高，煮饭软糯、熬粥浓稠，老人孩子都爱吃。（示例商品）",
        "圆粒香",
        _rice(3990, 7200, 13600),
        (236, 214, 160),
        sales=640,
        sort_weight=60,
    ),
    DemoProduct(
        "有机五常大米 稻花香",
        "有机大米",
        "有机转换认证（示例）· 不施化肥农药 · 鸭稻共作",
        "在五常山区水源地的有机地块种植，稻田养鸭除草，施用农家肥，全程不用化学农药和化肥。"
        "有机证书与批次溯源信息见本页“溯源”部分（示例数据）。",
        "稻花香2号",
        _rice(9900, 18800, 35800, stock=(40, 60, 20)),
        (168, 196, 120),
        grade="有机",
        sales=310,
        sort_weight=90,
    ),
    DemoProduct(
        "五常鸭稻米 稻花香2号",
        "有机大米",
        "稻鸭共生 · 生态种植 · 限量供应",
        "每亩稻田放养十余只鸭子，吃虫除草、松土增肥，稻米自然生长。产量虽低，米香更足。（示例商品）",
        "稻花香2号",
        [("5kg 礼袋装", 15800, 50, 5000, 16800), ("10kg 家庭装", 29800, 25, 10000, None)],
        (140, 176, 110),
        sales=150,
    ),
    DemoProduct(
        "五常胚芽米",
        "五常大米",
        "留胚率 80% 以上 · 营养更全面",
        "低温轻碾工艺保留稻米胚芽，富含维生素 E 与膳食纤维，适合注重营养的家庭。建议煮前浸泡 30 分钟。（示例商品）",
        "稻花香2号",
        [("2.5kg 真空包装", 4590, 80, 2500, None), ("5kg 真空包装", 8500, 60, 5000, None)],
        (222, 200, 150),
        shelf_life_days=180,
        sales=210,
    ),
    DemoProduct(
        "东北珍珠米",
        "东北大米",
        "东北圆粒珍珠米 · 实惠好吃",
        "产自黑龙江建三江垦区，米粒圆润如珍珠，饭香浓、性价比高，适合家庭日常与食堂。（示例商品）",
        "空育131",
        _rice(3290, 5990, 10900, stock=(300, 400, 150)),
        (240, 226, 190),
        origin="黑龙江建三江",
        sales=2300,
    ),
    DemoProduct(
        "东北黄小米",
        "小米",
        "新小米 · 金黄油润 · 熬粥有米油",
        "产自吉林西部沙壤土，日照充足。小米颗粒均匀、色泽金黄，熬粥香浓，表面浮起一层米油。（示例商品）",
        "黄金苗",
        [("2.5kg 袋装", 3990, 150, 2500, None), ("5kg 袋装", 7200, 90, 5000, 7900)],
        (236, 190, 70),
        origin="吉林白城",
        shelf_life_days=270,
        sales=780,
    ),
    DemoProduct(
        "五谷杂粮 组合装",
        "五谷杂粮",
        "糙米 · 黑米 · 燕麦 · 红豆 · 薏米",
        "五种东北杂粮按比例配好，一包即可煮出杂粮饭或杂粮粥，粗细搭配更健康。（示例商品）",
        "混合杂粮",
        [("2.5kg 分装小袋", 4990, 100, 2500, None), ("5kg 分装小袋", 9200, 60, 5000, None)],
        (150, 110, 80),
        origin="黑龙江",
        shelf_life_days=300,
        sales=420,
    ),
    DemoProduct(
        "东北非转基因大豆",
        "豆类",
        "颗粒饱满 · 出浆率高 · 打豆浆做豆腐",
        "黑龙江北部寒地种植的非转基因黄豆，蛋白含量高，豆浆香浓细腻。（示例商品）",
        "黑农48",
        [("2.5kg 袋装", 2990, 200, 2500, None), ("5kg 袋装", 5500, 120, 5000, None)],
        (214, 180, 90),
        origin="黑龙江黑河",
        sales=360,
    ),
    DemoProduct(
        "东北红小豆",
        "豆类",
        "颗粒红亮 · 易煮开花 · 红豆沙好搭档",
        "东北红小豆皮薄沙多，煮粥、做豆沙馅都合适。（示例商品）",
        "珍珠红",
        [("2.5kg 袋装", 3600, 90, 2500, None), ("5kg 袋装", 6800, 40, 5000, None)],
        (170, 60, 60),
        origin="黑龙江",
        sales=130,
    ),
    DemoProduct(
        "东北秋木耳",
        "山珍干货",
        "小碗耳 · 肉厚无根 · 泡发率高",
        "长白山脉椴木段种植的秋木耳，朵小肉厚、口感脆嫩，凉拌、炒菜都好吃。1 斤干木耳可泡发约 10 斤。（示例商品）",
        "黑木耳",
        [("250g 袋装", 5990, 120, 250, None), ("500g 袋装", 10900, 80, 500, 11900)],
        (60, 50, 50),
        origin="黑龙江东宁",
        grade="特级",
        shelf_life_days=720,
        storage_advice="密封防潮，避免阳光直射",
        sales=540,
    ),
    DemoProduct(
        "企业礼盒 稻香臻选",
        "礼盒",
        "五常稻花香2号礼盒 · 可定制贺卡 · 企业团购",
        "精选五常稻花香2号新米，真空小包装配实木礼盒，适合中秋、春节与商务答谢。"
        "企业团购可定制贺卡与发票，批量订单请联系客服。（示例商品）",
        "稻花香2号",
        [("5kg 礼盒（10×500g）", 26800, 30, 6000, 29800), ("10kg 礼盒（20×500g）", 49800, 12, 11500, None)],
        (150, 30, 40),
        grade="特级",
        sales=95,
        sort_weight=70,
    ),
]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for candidate in (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ):
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size)


def draw_cover(product: DemoProduct, size: int = 800) -> bytes:
    """A simple illustrated cover: a bag in the product's colour, ears of rice, grains and a pinyin label."""
    rng = random.Random(product.name)
    r, g, b = product.colour
    image = Image.new("RGB", (size, size), (250, 246, 236))
    draw = ImageDraw.Draw(image)
    for y in range(size):  # soft vertical gradient
        t = y / size
        draw.line([(0, y), (size, y)], fill=(int(250 - 20 * t), int(246 - 26 * t), int(236 - 40 * t)))
    # the bag
    bag = (170, 170, 630, 700)
    draw.rounded_rectangle(
        bag, radius=60, fill=(r, g, b), outline=(max(r - 60, 0), max(g - 60, 0), max(b - 60, 0)), width=6
    )
    draw.rectangle((230, 150, 570, 200), fill=(max(r - 40, 0), max(g - 40, 0), max(b - 40, 0)))
    draw.rounded_rectangle((220, 330, 580, 560), radius=24, fill=(255, 252, 244))
    # ears of rice on the label
    for side in (-1, 1):
        cx = 400 + side * 120
        draw.line([(cx, 540), (cx - side * 30, 380)], fill=(120, 140, 60), width=5)
        for i in range(7):
            gy = 390 + i * 20
            gx = cx - side * (30 - i * 4)
            draw.ellipse((gx - 14, gy - 7, gx + 14, gy + 7), fill=(214, 170, 60))
    # loose grains at the bottom
    for _ in range(40):
        x, y = rng.randint(120, 680), rng.randint(705, 770)
        angle = rng.random() * math.pi
        dx, dy = 10 * math.cos(angle), 10 * math.sin(angle)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=(245, 240, 225), width=9)
    head, _, rest = product.name.partition(" ")
    label = " ".join(lazy_pinyin(head)).upper()[:24]
    sublabel = " ".join(p for p in lazy_pinyin(rest) if p.strip()).upper()[:30]
    lines = [
        (label, _font(34), 575),
        (sublabel, _font(22), 618),
        ("DAOXIANG", _font(40), 250),
        ("SAMPLE", _font(18), 655),
    ]
    for text, font, y in lines:
        width = draw.textlength(text, font=font)
        draw.text(
            ((size - width) / 2, y), text, font=font, fill=(60, 40, 20) if y != 250 else (255, 250, 240)
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


async def _categories(session: AsyncSession) -> dict[str, int]:
    existing = {c.name: c for c in (await session.execute(select(Category))).scalars()}
    ids: dict[str, int] = {}
    for position, (top, children) in enumerate(CATEGORY_TREE.items()):
        parent = existing.get(top)
        if parent is None:
            parent = Category(name=top, parent_id=None, sort_order=position)
            session.add(parent)
            await session.flush()
        ids[top] = parent.id
        for child_position, child in enumerate(children):
            category = existing.get(child)
            if category is None:
                category = Category(name=child, parent_id=parent.id, sort_order=child_position)
                session.add(category)
                await session.flush()
            ids[child] = category.id
    return ids


def _cover_name(product: DemoProduct) -> str:
    return "cover-" + "".join(lazy_pinyin(product.name.replace(" ", "-"))) + ".jpg"


async def seed(session: AsyncSession) -> None:
    categories = await _categories(session)
    existing = {p.name: p for p in (await session.execute(select(Product))).scalars()}
    for demo in PRODUCTS:
        product = existing.get(demo.name)
        if product is None:
            product = await service.create_product(
                session,
                None,
                ProductCreate(
                    name=demo.name,
                    subtitle=demo.subtitle,
                    description=demo.description,
                    category_id=categories[demo.category],
                    origin=demo.origin,
                    variety=demo.variety,
                    grade=demo.grade,
                    harvest_year=demo.harvest_year,
                    shelf_life_days=demo.shelf_life_days,
                    storage_advice=demo.storage_advice,
                    sort_weight=demo.sort_weight,
                    status="published",
                    skus=[
                        SkuCreate(
                            name=name,
                            price_fen=price,
                            stock=stock,
                            weight_g=weight,
                            original_price_fen=original,
                            sort_order=i,
                        )
                        for i, (name, price, stock, weight, original) in enumerate(demo.skus)
                    ],
                ),
            )
            product.sales_count = demo.sales
            await session.flush()
        has_image = (
            await session.execute(
                select(ProductImage.id).where(ProductImage.product_id == product.id).limit(1)
            )
        ).first()
        url = images.MEDIA_URL + f"products/{product.id}/{_cover_name(demo)}"
        path = images.path_for(url)
        if not has_image:
            images.store(product.id, draw_cover(demo), name=_cover_name(demo))
            await gallery.add_image(session, None, product.id, url, alt=demo.name)
        elif product.cover_image == url and path is not None and not path.exists():
            images.store(product.id, draw_cover(demo), name=_cover_name(demo))  # media dir was wiped
