"""What a review may not say: the shop's banned words (named in the answer) and contact details, however
they are disguised; ordinary rice talk passes."""

from __future__ import annotations

import pytest

from app.config import get_settings
from app.reviews import screening
from tests.problems import assert_problem
from tests.reviews.factories import aggregates, completed_order, review, reviews_of

CONTACTS = [
    "加我微信 rice_lover 有优惠",
    "加 V：dx2026",
    "vx同号",
    "威信 abc",
    "WeChat: daoxiang",
    "电话13800138000",
    "电话 138 0013 8000",
    "１３８００１３８０００",
    "１３８ ００１３ ８０００",
    "138-0013-8000",
    "1.3.8.0.0.1.3.8.0.0.0",
    "幺三八零零幺三八零零零",
    "①③⑧⓪⓪①③⑧⓪⓪⓪",
    "QQ 12345678",
    "扣扣：87654321",
    "https://example.com/deal",
    "http://1.2.3.4/x",
    "www.daoxiang-cheap.cn",
    "去 taobao.com 买更便宜",
    "cheap-rice . com 便宜",
    "cheaprice点com",
    "cheaprice。cn",
    "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ",
]

FINE = [
    "米粒饱满，煮出来很香，家里老人孩子都爱吃。",
    "口感Q弹，5kg装两袋，2026-11-30收到，批次WC-2026-001。",
    "2026年11月30日到货，包装完好，一般般吧。",
    "第二次买了，比超市的好吃，三口之家一个月吃一袋。",
    "",
]


@pytest.mark.parametrize("text", CONTACTS)
def test_contact_details_are_caught(text):
    assert screening.has_contact(text), text


@pytest.mark.parametrize("text", FINE)
def test_ordinary_reviews_pass(text):
    assert not screening.has_contact(text) and screening.found_banned(text) == []


def test_banned_words_are_found_through_spaces_and_width(monkeypatch):
    monkeypatch.setattr(get_settings(), "review_banned_words", "刷单, 好评返现 ,SPAM")
    assert screening.found_banned("这家 好 评 返 现，还有ｓｐａｍ") == ["好评返现", "SPAM"]
    assert screening.found_banned("米很好") == []


class TestRefusedReviews:
    async def test_banned_words_are_named_in_the_422(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "review_banned_words", "刷单,假货")
        user, order, sku = await completed_order(client)
        body = assert_problem(
            await review(client, user, order["id"], sku.id, text="是假货吗？还刷单"), 422, "review_rejected"
        )
        assert body["words"] == ["刷单", "假货"] and "刷单" in body["detail"]
        assert await reviews_of(sku.product_id) == [] and await aggregates(sku.product_id) == (0, 0)

    @pytest.mark.parametrize("text", ["加我vx: rice88", "１３８ ００１３ ８０００", "www.example.cn"])
    async def test_contact_spam_is_422_and_writes_nothing(self, client, text):
        user, order, sku = await completed_order(client)
        body = assert_problem(
            await review(client, user, order["id"], sku.id, text=text), 422, "review_rejected"
        )
        assert body["reason"] == "contact"
        assert await reviews_of(sku.product_id) == []
        assert (await review(client, user, order["id"], sku.id, text="很香")).status_code == 201
