"""/trace/{code}: the page a phone opens after scanning a bag."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.config import get_settings
from app.kit.time import shop_today
from app.traceability import codes as codebook
from tests.catalog.factories import create_product
from tests.traceability import factories as f


@pytest.fixture
async def phone():
    """A second browser: its own cookie jar."""
    from app.main import app

    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def scanned_batch(**batch_overrides):
    product = await create_product(name="五常大米 稻花香2号 5kg")
    producer = await f.create_producer(name="五常市示例水稻种植合作社", license_no="GI-WC-0001")
    plot = await f.create_plot(producer, name="民乐 3 号地", village="民乐朝鲜族乡")
    batch = await f.create_batch(product=product, producer=producer, plot=plot, **batch_overrides)
    await f.create_event(batch, type="harvested", location="民乐乡 3 号地")
    await f.create_certificate(producer_id=producer.id, number="GI-OK-1")
    await f.create_certificate(
        kind="green_food", batch_id=batch.id, number="LB-OLD", valid_until=shop_today() - timedelta(days=3)
    )
    [code] = await f.create_codes(batch)
    return code


class TestTracePage:
    async def test_genuine_page_tells_the_whole_story_in_chinese(self, client):
        code = await scanned_batch()
        response = await client.get(f"/trace/{code}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert 'lang="zh-CN"' in html and 'name="viewport"' in html
        assert 'class="site-header"' in html  # the shop's own layout around it
        # The verdict comes first, before any product detail.
        assert html.index("正品验证通过") < html.index("五常大米 稻花香2号 5kg")
        for text in (
            "五常市示例水稻种植合作社",
            "GI-WC-0001",
            "民乐 3 号地",
            "民乐朝鲜族乡",
            "稻花香2号",
            "收割",
            "地理标志产品",
            "已过期",
            "LB-OLD",
            "1 次",
            codebook.pretty(code),
        ):
            assert text in html, text
        assert "首次扫描的不是您" not in html
        assert "可疑" not in html

    async def test_warns_when_the_first_scan_was_someone_elses(self, client, phone):
        code = await scanned_batch()
        first = await client.get(f"/trace/{code}")
        assert "首次扫描的不是您" not in first.text
        # The same browser again: no warning (its cookie says it scanned first).
        assert "首次扫描的不是您" not in (await client.get(f"/trace/{code}")).text
        # Another phone: the code was scanned before, and not by this browser.
        other = await phone.get(f"/trace/{code}")
        assert other.status_code == 200
        assert "首次扫描的不是您" in other.text and "3 次" in other.text

    async def test_suspicious_is_unmistakable(self, client, phone, monkeypatch):
        monkeypatch.setattr(get_settings(), "trace_suspicious_scanners", 1)
        code = await scanned_batch(best_before_on=shop_today() - timedelta(days=1))
        await client.get(f"/trace/{code}")
        html = (await phone.get(f"/trace/{code}")).text
        assert 'data-verdict="suspicious"' in html and "可疑" in html
        assert "正品验证通过" not in html
        assert "2 个不同的设备或网络扫描" in html and "已过保质期" in html

    @pytest.mark.parametrize("raw", ["NOPE", "A" * 300, '"><img src=x onerror=alert(1)>'])
    async def test_unknown_code_page_is_404_and_escaped(self, client, raw):
        response = await client.get(f"/trace/{raw}")
        assert response.status_code == 404
        assert "未找到该溯源码" in response.text and "<img src=x" not in response.text

    async def test_page_and_api_count_the_same_scans(self, client):
        code = await scanned_batch()
        await client.get(f"/trace/{code}")
        assert (await client.get(f"/api/trace/{code}")).json()["scan_count"] == 2
