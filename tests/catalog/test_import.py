"""`daoxiang import-products`: every bad row reported with its line, and then nothing imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.audit import AuditLog
from app.catalog.importer import ImportFailed, import_products
from app.catalog.models import Product, Sku
from app.db import session_scope
from tests.catalog.factories import create_category, create_product

HEADER = "product,category,subtitle,origin,variety,status,sku,price,original_price,stock,weight_g\n"
GOOD = (
    HEADER
    + "五常大米 稻花香2号,大米/五常大米,当季新米,黑龙江五常,稻花香2号,published,2.5kg 真空包装,69.80,,50,2500\n"
    + "五常大米 稻花香2号,,,,,,5kg 真空包装,¥128.00,148.00,40,5000\n"
    + "五常大米 稻花香2号,,,,,,10kg 家庭装,238,,20,10000\n"
    + '东北黄小米,小米,"新小米, 熬粥香",吉林,黄金苗,draft,2.5kg 袋装,39.9,,100,2500\n'
)


async def product_count() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(Product))).scalar_one()


@pytest.fixture
async def categories():
    rice = await create_category(name="大米")
    await create_category(name="五常大米", parent=rice)
    await create_category(name="小米")


def write(tmp_path: Path, text: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    return path


class TestImport:
    async def test_good_csv_creates_products_with_skus_in_fen(self, client, categories, tmp_path):
        ids = await import_products(write(tmp_path, GOOD))
        assert len(ids) == 2
        listed = (await client.get("/api/products")).json()["items"]
        assert [i["name"] for i in listed] == ["五常大米 稻花香2号"]
        detail = (await client.get(f"/api/products/{ids[0]}")).json()
        assert [(s["name"], s["price_fen"], s["stock"]) for s in detail["skus"]] == [
            ("2.5kg 真空包装", 6980, 50),
            ("5kg 真空包装", 12800, 40),
            ("10kg 家庭装", 23800, 20),
        ]
        assert detail["skus"][1]["original_price_fen"] == 14800
        async with session_scope() as session:
            millet = await session.get(Product, ids[1])
            assert millet.status == "draft" and millet.subtitle == "新小米, 熬粥香"
            roles = set((await session.execute(select(AuditLog.actor_role))).scalars())
        assert roles == {"import"}

    async def test_xlsx(self, client, categories, tmp_path):
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(["product", "category", "sku", "price", "stock", "weight_g", "status"])
        sheet.append(["东北秋木耳", "", "250g 袋装", 59.9, 120, 250, "published"])
        sheet.append(["东北秋木耳", "", "500g 袋装", 109, 80.0, 500, ""])
        path = tmp_path / "products.xlsx"
        workbook.save(path)
        (product_id,) = await import_products(path)
        detail = (await client.get(f"/api/products/{product_id}")).json()
        assert [(s["price_fen"], s["stock"]) for s in detail["skus"]] == [(5990, 120), (10900, 80)]

    async def test_every_bad_row_is_reported_and_nothing_is_imported(self, categories, tmp_path):
        await create_product(name="已存在的米")
        bad = (
            HEADER
            + "好米,大米,,,,,5kg,128.00,,10,5000\n"  # line 2: fine on its own
            + "坏价格,大米,,,,,5kg,12.345,,10,5000\n"  # 3
            + "负价格,大米,,,,,5kg,-1,,10,5000\n"  # 4
            + "零价格,大米,,,,,5kg,0,,10,5000\n"  # 5
            + ",大米,,,,,5kg,10,,10,5000\n"  # 6: no product name
            + "无规格,大米,,,,,,10,,10,5000\n"  # 7: no sku name
            + "未知分类,不存在,,,,,5kg,10,,10,5000\n"  # 8
            + "好米,大米,,,,,5kg,99,,10,5000\n"  # 9: same SKU twice
            + "好米,小米,,,,,10kg,99,,10,5000\n"  # 10: contradicts line 2's category
            + "已存在的米,,,,,,5kg,10,,10,5000\n"  # 11
            + "库存,,,,,,5kg,10,,abc,5000\n"  # 12
            + "重量,,,,,,5kg,10,,1,0\n"  # 13
            + "原价,,,,,,5kg,10,5,1,10\n"  # 14: original below price
            + "状态,,,,,gone,5kg,10,,1,10\n"  # 15
            + "天价,,,,,,5kg,99999999,,1,10\n"  # 16
        )
        with pytest.raises(ImportFailed) as failure:
            await import_products(write(tmp_path, bad))
        lines = [p.split(":")[0] for p in failure.value.problems]
        assert lines == [f"line {n}" for n in range(3, 17)]
        text = "\n".join(failure.value.problems)
        for reason in (
            "more than two decimal places",
            "already exists",
            "no category named",
            "appears twice",
            "contradicts",
        ):
            assert reason in text
        assert await product_count() == 1

    @pytest.mark.parametrize(
        "content, reason",
        [
            ("name,price\n米,1\n", "missing column"),
            (HEADER.strip() + ",colour\n", "unknown column"),
            (HEADER, "no data rows"),
        ],
    )
    async def test_bad_files(self, tmp_path, content, reason):
        with pytest.raises(ImportFailed) as failure:
            await import_products(write(tmp_path, content))
        assert reason in failure.value.problems[0]
        assert await product_count() == 0

    async def test_not_utf8_or_wrong_type(self, tmp_path):
        path = tmp_path / "gbk.csv"
        path.write_bytes(HEADER.encode() + "米,,,,,,5kg,1,,1,1\n".encode("gbk"))
        with pytest.raises(ImportFailed, match="UTF-8"):
            await import_products(path)
        with pytest.raises(ImportFailed, match="only .csv and .xlsx"):
            await import_products(write(tmp_path, GOOD, name="products.txt"))


class TestCommand:
    def _run(self, path: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "COLUMNS": "120"}
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "import-products", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )

    async def test_cli_reports_bad_rows_and_exits_1(self, categories, tmp_path):
        result = self._run(write(tmp_path, HEADER + "米,大米,,,,,5kg,1.001,,1,1\n米2,,,,,,,1,,1,1\n"))
        assert result.returncode == 1, result.stderr
        assert (
            "Nothing imported" in result.stderr and "line 2:" in result.stderr and "line 3:" in result.stderr
        )
        assert await product_count() == 0

    async def test_cli_imports_with_a_progress_bar(self, categories, tmp_path):
        result = self._run(write(tmp_path, GOOD))
        assert result.returncode == 0, result.stderr
        assert "imported 2 product(s)" in result.stdout
        assert "2/2" in result.stderr
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(Sku))).scalar_one() == 4
