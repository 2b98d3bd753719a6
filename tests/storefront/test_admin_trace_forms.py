"""Back-office forms that create producers, plots, batches and certificates (the same service calls as
/api/admin/...): staff create and then see the row, bad input is shown again with 422 and writes nothing,
customers and forms without a CSRF token are refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.traceability.models import Batch, Certificate, Plot, Producer
from app.users.models import Role
from tests.catalog.factories import create_product
from tests.storefront.pages import csrf_from, log_in
from tests.traceability.factories import create_batch, create_plot, create_producer
from tests.traceability.helpers import count_rows
from tests.users.factories import auth, create_user


async def as_merchant(client) -> tuple[str, dict[str, str]]:
    """Logs a merchant in; returns a form's CSRF token and the merchant's API auth header."""
    merchant = await create_user(role=Role.merchant)
    await log_in(client, merchant)
    return csrf_from((await client.get("/admin/producers")).text), auth(merchant)


async def as_customer(client) -> str:
    await log_in(client, await create_user())
    return csrf_from((await client.get("/")).text)


def producer_form(token: str, **overrides: str) -> dict[str, str]:
    return {
        "name": "五常市龙凤山水稻合作社",
        "region": "黑龙江省五常市",
        "license_no": "GI-WC-0099",
        "contact_name": "王师傅",
        "contact_phone": "13800000000",
        "csrf_token": token,
        **overrides,
    }


class TestProducerForms:
    async def test_staff_creates_a_producer_then_a_plot_and_sees_both(self, client):
        token, staff_api = await as_merchant(client)
        response = await client.post("/admin/producers", data=producer_form(token))
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        assert "生产者已创建" in page.text and "五常市龙凤山水稻合作社" in page.text
        [producer] = (await client.get("/api/admin/producers", headers=staff_api)).json()["items"]
        assert (producer["license_no"], producer["contact_name"]) == ("GI-WC-0099", "王师傅")
        assert response.headers["location"] == f"/admin/producers/{producer['id']}?done=producer"

        plot = await client.post(
            f"/admin/producers/{producer['id']}/plots",
            data={"name": "龙凤山3号地", "village": "龙凤山村", "area_mu": "12.5", "csrf_token": token},
        )
        assert plot.headers["location"] == f"/admin/producers/{producer['id']}?done=plot"
        detail = await client.get(plot.headers["location"])
        assert "地块已保存" in detail.text and "龙凤山3号地" in detail.text and "12.50" in detail.text
        listing = await client.get("/admin/producers")
        assert "五常市龙凤山水稻合作社" in listing.text and "龙凤山3号地" in listing.text
        [api_plot] = (
            await client.get(f"/api/admin/producers/{producer['id']}/plots", headers=staff_api)
        ).json()
        assert (api_plot["village"], api_plot["area_mu"]) == ("龙凤山村", "12.50")

    async def test_bad_producer_is_shown_again_with_422_and_not_saved(self, client):
        token, _ = await as_merchant(client)
        missing = await client.post("/admin/producers", data=producer_form(token, name=" "))
        assert missing.status_code == 422 and "请填写名称" in missing.text
        assert "GI-WC-0099" in missing.text  # what was typed is kept
        assert await count_rows(Producer) == 0
        await create_producer(name="五常市龙凤山水稻合作社")
        taken = await client.post("/admin/producers", data=producer_form(token))
        assert taken.status_code == 422 and "已有同名的生产者" in taken.text
        assert await count_rows(Producer) == 1

    async def test_bad_plot_is_shown_again_with_422_and_not_saved(self, client):
        producer = await create_producer()
        token, _ = await as_merchant(client)
        response = await client.post(
            f"/admin/producers/{producer.id}/plots",
            data={"name": "坏地块", "area_mu": "十亩", "latitude": "91", "csrf_token": token},
        )
        assert response.status_code == 422
        assert "面积请填写不小于 0 的亩数" in response.text and "纬度请填写 -90 到 90" in response.text
        no_name = await client.post(
            f"/admin/producers/{producer.id}/plots", data={"name": "", "csrf_token": token}
        )
        assert no_name.status_code == 422 and "请填写地块名称" in no_name.text
        assert await count_rows(Plot) == 0
        unknown = await client.post("/admin/producers/999999/plots", data={"name": "x", "csrf_token": token})
        assert unknown.status_code == 404 and await count_rows(Plot) == 0

    async def test_customer_is_refused(self, client):
        producer = await create_producer()
        token = await as_customer(client)
        assert (await client.get("/admin/producers")).status_code == 403
        assert (await client.get(f"/admin/producers/{producer.id}")).status_code == 403
        assert (await client.post("/admin/producers", data=producer_form(token))).status_code == 403
        plot = await client.post(
            f"/admin/producers/{producer.id}/plots", data={"name": "x", "csrf_token": token}
        )
        assert plot.status_code == 403
        assert await count_rows(Producer) == 1 and await count_rows(Plot) == 0


class TestBatchForm:
    async def test_staff_creates_a_batch_and_sees_it(self, client):
        product = await create_product(name="五常大米 稻花香2号 新米", shelf_life_days=365)
        producer = await create_producer()
        plot = await create_plot(producer, name="民乐3号地")
        token, staff_api = await as_merchant(client)
        form = await client.get("/admin/batches/new")
        assert form.status_code == 200
        assert "五常大米 稻花香2号 新米" in form.text and "民乐3号地" in form.text
        response = await client.post(
            "/admin/batches",
            data={
                "product_id": str(product.id),
                "producer_id": str(producer.id),
                "plot_id": str(plot.id),
                "variety": "稻花香2号",
                "batch_no": "WC2026-001",
                "planted_on": "2026-05-10",
                "harvested_on": "2026-09-28",
                "milled_on": "2026-10-08",
                "quantity_kg": "1000.5",
                "notes": "头茬新米",
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        [batch] = (await client.get("/api/admin/batches", headers=staff_api)).json()["items"]
        assert response.headers["location"] == f"/admin/batches/{batch['id']}?done=created"
        assert (batch["batch_no"], batch["plot_id"], batch["quantity_kg"]) == (
            "WC2026-001",
            plot.id,
            "1000.500",
        )
        # The service's rule: no best-before given -> milled date plus the product's shelf life.
        assert batch["best_before_on"] == (date(2026, 10, 8) + timedelta(days=365)).isoformat()
        detail = await client.get(response.headers["location"])
        assert "批次已创建" in detail.text and "WC2026-001" in detail.text and "民乐3号地" in detail.text
        listing = await client.get("/admin/batches")
        assert "WC2026-001" in listing.text and "1000.500" in listing.text

    async def test_a_new_plot_name_creates_the_plot_for_that_producer(self, client):
        product, producer = await create_product(), await create_producer()
        token, _ = await as_merchant(client)
        response = await client.post(
            "/admin/batches",
            data={
                "product_id": str(product.id),
                "producer_id": str(producer.id),
                "plot_name": "新开3号地",
                "quantity_kg": "200",
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        detail = await client.get(response.headers["location"])
        assert "新开3号地" in detail.text
        page = await client.get(f"/admin/producers/{producer.id}")
        assert "新开3号地" in page.text

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"harvested_on": "2026-09-28", "milled_on": "2026-09-01"}, "日期顺序不对"),
            ({"quantity_kg": "0"}, "数量请填写大于 0 的公斤数"),
            ({"quantity_kg": ""}, "请填写数量（公斤）"),
            ({"batch_no": "批次一"}, "批次号只能包含字母、数字和连字符"),
            ({"product_id": ""}, "请选择商品"),
            ({"producer_id": "x1"}, "生产者格式不正确"),
            ({"plot_id": "OTHER", "plot_name": ""}, "所选地块不属于这个生产者"),
            ({"plot_id": "OTHER", "plot_name": "新地"}, "二选一"),
            ({"batch_no": "TAKEN-1"}, "这个批次号已经存在"),
            ({"product_id": "999999"}, "所选商品不存在"),
        ],
    )
    async def test_bad_batch_is_shown_again_with_422_and_not_saved(self, client, overrides, message):
        product, producer = await create_product(), await create_producer()
        other_plot = await create_plot(await create_producer())
        await create_batch(batch_no="TAKEN-1")
        token, _ = await as_merchant(client)
        data = {
            "product_id": str(product.id),
            "producer_id": str(producer.id),
            "plot_name": "",
            "variety": "稻花香2号",
            "quantity_kg": "100",
            "csrf_token": token,
        }
        data.update({k: str(other_plot.id) if v == "OTHER" else v for k, v in overrides.items()})
        response = await client.post("/admin/batches", data=data)
        assert response.status_code == 422 and message in response.text, response.text
        assert "稻花香2号" in response.text  # the form is shown again with what was typed
        assert await count_rows(Batch) == 1 and await count_rows(Plot) == 1

    async def test_customer_is_refused(self, client):
        product, producer = await create_product(), await create_producer()
        token = await as_customer(client)
        assert (await client.get("/admin/batches/new")).status_code == 403
        response = await client.post(
            "/admin/batches",
            data={
                "product_id": str(product.id),
                "producer_id": str(producer.id),
                "quantity_kg": "100",
                "csrf_token": token,
            },
        )
        assert response.status_code == 403 and await count_rows(Batch) == 0


def certificate_form(token: str, **overrides: str) -> dict[str, str]:
    return {
        "kind": "geographical_indication",
        "number": "GI-2026-0007",
        "issuer": "国家知识产权局",
        "valid_from": "2026-01-01",
        "valid_until": "2028-12-31",
        "producer_id": "",
        "batch_id": "",
        "product_id": "",
        "csrf_token": token,
        **overrides,
    }


class TestCertificateForm:
    async def test_staff_records_a_certificate_and_sees_it(self, client):
        producer = await create_producer(name="五常市民乐水稻种植合作社")
        token, staff_api = await as_merchant(client)
        page = await client.get("/admin/certificates")
        assert "登记证书" in page.text and "五常市民乐水稻种植合作社" in page.text
        response = await client.post(
            "/admin/certificates", data=certificate_form(token, producer_id=str(producer.id))
        )
        assert (
            response.status_code == 303 and response.headers["location"] == "/admin/certificates?done=created"
        )
        listing = await client.get(response.headers["location"])
        assert (
            "证书已记录" in listing.text and "GI-2026-0007" in listing.text and "地理标志产品" in listing.text
        )
        [cert] = (await client.get("/api/admin/certificates", headers=staff_api)).json()["items"]
        assert (cert["number"], cert["producer_id"], cert["valid_until"]) == (
            "GI-2026-0007",
            producer.id,
            "2028-12-31",
        )

    async def test_a_certificate_of_a_batch(self, client):
        batch = await create_batch(batch_no="WC-CERT-1")
        token, staff_api = await as_merchant(client)
        assert "WC-CERT-1" in (await client.get("/admin/certificates")).text
        response = await client.post(
            "/admin/certificates",
            data=certificate_form(token, kind="inspection_report", batch_id=str(batch.id)),
        )
        assert response.status_code == 303
        [cert] = (await client.get("/api/admin/certificates", headers=staff_api)).json()["items"]
        assert (cert["kind"], cert["batch_id"]) == ("inspection_report", batch.id)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({}, "请在生产者、批次、商品中选择且只选择一个"),
            ({"producer_id": "P", "product_id": "Q"}, "请在生产者、批次、商品中选择且只选择一个"),
            ({"producer_id": "P", "valid_until": "2025-12-31"}, "到期日期不能早于生效日期"),
            ({"producer_id": "P", "number": ""}, "请填写证书编号"),
            ({"producer_id": "P", "valid_from": "2026-13-40"}, "生效日期格式不正确"),
            ({"producer_id": "P", "kind": "made_up"}, "证书类型格式不正确"),
            ({"batch_id": "999999"}, "所选批次不存在"),
        ],
    )
    async def test_bad_certificate_is_shown_again_with_422_and_not_saved(self, client, overrides, message):
        producer, product = await create_producer(), await create_product()
        token, _ = await as_merchant(client)
        values = {"P": str(producer.id), "Q": str(product.id)}
        data = certificate_form(token, **{k: values.get(v, v) for k, v in overrides.items()})
        response = await client.post("/admin/certificates", data=data)
        assert response.status_code == 422 and message in response.text, response.text
        assert "国家知识产权局" in response.text  # the form is shown again with what was typed
        assert await count_rows(Certificate) == 0

    async def test_customer_is_refused(self, client):
        producer = await create_producer()
        token = await as_customer(client)
        assert (await client.get("/admin/certificates")).status_code == 403
        response = await client.post(
            "/admin/certificates", data=certificate_form(token, producer_id=str(producer.id))
        )
        assert response.status_code == 403 and await count_rows(Certificate) == 0


class TestCsrf:
    async def test_every_form_without_a_token_is_refused_and_writes_nothing(self, client):
        product, producer = await create_product(), await create_producer()
        await as_merchant(client)
        posts = [
            ("/admin/producers", producer_form("")),
            (f"/admin/producers/{producer.id}/plots", {"name": "无令牌地块"}),
            (
                "/admin/batches",
                {"product_id": str(product.id), "producer_id": str(producer.id), "quantity_kg": "5"},
            ),
            ("/admin/certificates", certificate_form("", producer_id=str(producer.id))),
        ]
        for path, data in posts:
            data.pop("csrf_token", None)
            response = await client.post(path, data=data)
            assert response.status_code == 403 and "页面已过期" in response.text, path
        assert await count_rows(Producer) == 1 and await count_rows(Plot) == 0
        assert await count_rows(Batch) == 0 and await count_rows(Certificate) == 0
