"""Custom gift boxes through the API (SQLite, and MariaDB with TEST_DATABASE_URL): request, recipients typed or
uploaded, quote, proof, accept (an order of kind custom), offline payment, approve, ship per recipient."""

from __future__ import annotations

import io
import time
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from app.audit import AuditLog
from app.db import session_scope
from app.orders import jobs as orders_jobs
from tests.gifts.factories import (
    body,
    create_request,
    csv_bytes,
    quote,
    quoted_request,
    recipient,
    recipient_rows,
    recipients,
    request_row,
    upload_proof,
    xlsx_bytes,
)
from tests.orders.factories import count_orders, get_order, sku_on_sale, staff, stock_of
from tests.users.factories import auth, create_user


def _upload(client, user, request_id, data: bytes, name: str = "list.csv"):
    return client.post(
        f"/api/custom-requests/{request_id}/recipients",
        files={"file": (name, data, "application/octet-stream")},
        headers=auth(user),
    )


class TestCreateRequest:
    async def test_a_company_requests_boxes_with_its_recipients_typed_in(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        assert (request["status"], request["quantity"], request["recipients_count"]) == ("requested", 20, 20)
        rows = await recipient_rows(request["id"])
        assert [r.idx for r in rows] == list(range(1, 21)) and rows[0].province == "北京市"

    async def test_fewer_than_the_minimum_is_422(self, client):
        user, sku = await create_user(), await sku_on_sale()
        response = await client.post("/api/custom-requests", json=body(sku, quantity=19), headers=auth(user))
        assert response.status_code == 422 and response.json()["code"] == "quantity_too_small"

    async def test_quantities_that_do_not_add_up_store_nothing(self, client):
        user, sku = await create_user(), await sku_on_sale()
        response = await client.post(
            "/api/custom-requests", json=body(sku, recipients=recipients(19)), headers=auth(user)
        )
        assert response.status_code == 422 and response.json()["code"] == "invalid_recipients"
        assert "19" in response.json()["detail"]

    async def test_a_province_not_on_the_list_is_refused_like_an_address(self, client):
        user, sku = await create_user(), await sku_on_sale()
        rows = recipients(20)
        rows[4]["province"] = "火星"
        response = await client.post(
            "/api/custom-requests", json=body(sku, recipients=rows), headers=auth(user)
        )
        assert response.status_code == 422
        assert any(e["loc"][-2:] == ["4", "province"] for e in response.json()["errors"])

    async def test_short_province_names_are_stored_canonical(self, client):
        user, sku = await create_user(), await sku_on_sale()
        rows = recipients(20)
        rows[0]["province"] = "新疆"
        request = await create_request(client, user, sku, recipients=rows)
        assert (await recipient_rows(request["id"]))[0].province == "新疆维吾尔自治区"

    async def test_extra_fields_and_anonymous_callers_are_refused(self, client):
        user, sku = await create_user(), await sku_on_sale()
        response = await client.post(
            "/api/custom-requests", json={**body(sku), "price": 1}, headers=auth(user)
        )
        assert response.status_code == 422
        assert (await client.post("/api/custom-requests", json=body(sku))).status_code == 401

    async def test_an_unknown_sku_is_404(self, client):
        user, sku = await create_user(), await sku_on_sale()
        response = await client.post(
            "/api/custom-requests", json=body(sku, sku_id=sku.id + 999), headers=auth(user)
        )
        assert response.status_code == 404 and response.json()["code"] == "sku_not_found"


class TestUploadRecipients:
    async def test_a_csv_replaces_the_list(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku, recipients=[])
        assert request["recipients_count"] == 0
        response = await _upload(client, user, request["id"], csv_bytes(recipients(10, per=2)))
        assert response.status_code == 200, response.text
        assert response.json()["recipients_count"] == 10
        assert [r.quantity for r in await recipient_rows(request["id"])] == [2] * 10

    async def test_an_excel_file_with_chinese_headers(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        response = await _upload(client, user, request["id"], xlsx_bytes(recipients(4, per=5)), "list.xlsx")
        assert response.status_code == 200, response.text
        assert response.json()["recipients_count"] == 4

    async def test_a_gb18030_csv_from_excel_on_windows(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        data = csv_bytes(
            recipients(20),
            header=("收件人", "手机号", "省份", "城市", "区县", "详细地址", "数量"),
            encoding="gb18030",
        )
        response = await _upload(client, user, request["id"], data)
        assert response.status_code == 200, response.text
        assert (await recipient_rows(request["id"]))[0].recipient == "收件人1"

    async def test_every_bad_row_is_reported_by_its_number_and_nothing_is_stored(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        rows = recipients(20)
        rows[2]["phone"] = "12345"  # file row 4 (the header is row 1)
        rows[6]["province"] = "Atlantis"  # row 8
        rows[9]["detail"] = ""  # row 11
        response = await _upload(client, user, request["id"], csv_bytes(rows))
        assert response.status_code == 422 and response.json()["code"] == "invalid_recipients"
        errors = response.json()["errors"]
        assert [e["row"] for e in errors] == [4, 8, 11]
        assert "phone" in errors[0]["reason"] and "province" in errors[1]["reason"]
        assert [r.phone for r in await recipient_rows(request["id"])] == [r["phone"] for r in recipients(20)]

    async def test_a_file_that_is_not_a_list_is_unsupported(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        for data in (b"\x89PNG\r\n\x1a\n\x00\x00", b"name,age\nA,1\n", b"PK\x03\x04broken"):
            response = await _upload(client, user, request["id"], data)
            assert response.status_code == 422 and response.json()["code"] == "unsupported_file", data

    async def test_another_customers_request_is_404(self, client):
        user, other, sku = await create_user(), await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        response = await _upload(client, other, request["id"], csv_bytes(recipients(20)))
        assert response.status_code == 404 and response.json()["code"] == "custom_request_not_found"
        assert (
            await client.get(f"/api/custom-requests/{request['id']}", headers=auth(other))
        ).status_code == 404

    async def test_after_the_quote_the_list_is_fixed(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await quoted_request(client, user, sku)
        response = await _upload(client, user, request["id"], csv_bytes(recipients(20)))
        assert response.status_code == 409 and response.json()["code"] == "invalid_request_state"

    async def test_five_thousand_rows_upload_in_seconds(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku, quantity=5000, recipients=[])
        data = csv_bytes(recipients(5000))
        started = time.perf_counter()
        response = await _upload(client, user, request["id"], data)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert response.json()["recipients_count"] == 5000
        assert elapsed < 15, elapsed
        print(f"\n5,000-row CSV ({len(data)} bytes) uploaded in {elapsed:.2f}s")
        staff_view = await client.get(
            f"/api/admin/custom-requests/{request['id']}/recipients", headers=auth(await staff())
        )
        assert len(staff_view.json()) == 5000


class TestQuoteAndProof:
    async def test_staff_quote_then_upload_a_proof(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        response = await quote(client, request["id"], unit=12000, setup=30000)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["total_fen"]) == ("quoted", 12000 * 20 + 30000)
        response = await upload_proof(client, request["id"])
        assert response.status_code == 200 and response.json()["status"] == "proof_ready"
        proof = await client.get(f"/api/custom-requests/{request['id']}/proof", headers=auth(user))
        assert proof.status_code == 200 and proof.headers["content-type"] == "image/jpeg"
        assert (
            proof.content.startswith(b"\xff\xd8\xff") and "attachment" in proof.headers["content-disposition"]
        )

    async def test_a_pdf_proof_is_kept_and_anything_else_refused(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await quoted_request(client, user, sku)
        for bad in (b"<svg onload=alert(1)>", b"GIF89a....", b""):
            response = await upload_proof(client, request["id"], bad)
            assert response.status_code == 422 and response.json()["code"] == "unsupported_file"
        assert (await upload_proof(client, request["id"], b"%PDF-1.4\n%...")).status_code == 200

    async def test_customers_and_anonymous_cannot_quote(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        payload = {"unit_price_fen": 1, "setup_fee_fen": 0, "valid_until": "2099-01-01T00:00:00+08:00"}
        url = f"/api/admin/custom-requests/{request['id']}/quote"
        assert (await client.post(url, json=payload, headers=auth(user))).status_code == 403
        assert (await client.post(url, json=payload)).status_code == 401
        assert (
            await client.post(url, json={**payload, "x": 1}, headers=auth(await staff()))
        ).status_code == 422

    async def test_a_quote_valid_until_the_past_is_refused(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        response = await quote(client, request["id"], days=-1)
        assert response.status_code == 409 and response.json()["code"] == "quote_expired"


class TestAcceptPayApproveShip:
    async def test_the_whole_flow_from_quote_to_every_parcel_shipped(self, client):
        user, sku = await create_user(), await sku_on_sale(stock=5)
        request = await create_request(client, user, sku, quantity=20, recipients=recipients(4, per=5))
        await quote(client, request["id"], unit=10000, setup=50000)
        await upload_proof(client, request["id"])

        accepted = await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))
        assert accepted.status_code == 201, accepted.text
        order = accepted.json()
        assert (order["kind"], order["status"], order["total_fen"]) == ("custom", "pending_payment", 250000)
        assert order["shipping_fen"] == 0 and order["items"][0]["quantity"] == 20
        assert await stock_of(sku.id) == 5  # made to order: the shelf stock is not taken

        again = await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))
        assert again.status_code == 409 and again.json()["code"] == "already_accepted"
        assert await count_orders() == 1

        early = await client.post(f"/api/custom-requests/{request['id']}/approve-proof", headers=auth(user))
        assert early.status_code == 409

        merchant = await staff()
        wrong = await client.post(
            f"/api/admin/orders/{order['id']}/offline-payment",
            json={"amount_fen": 1, "reference": "CMB-1"},
            headers=auth(merchant),
        )
        assert wrong.status_code == 400 and wrong.json()["code"] == "amount_mismatch"
        paid = await client.post(
            f"/api/admin/orders/{order['id']}/offline-payment",
            json={"amount_fen": 250000, "reference": "CMB-20261201-1"},
            headers=auth(merchant),
        )
        assert paid.status_code == 201, paid.text
        assert (paid.json()["channel"], paid.json()["confirmed_by"]) == ("bank_transfer", merchant.id)
        assert (await get_order(order["id"])).status == "paid"
        async with session_scope() as session:
            audit = (
                await session.execute(select(AuditLog).where(AuditLog.action == "payment.offline_confirmed"))
            ).scalar_one()
        assert audit.actor_id == merchant.id and audit.changes["reference"]["after"] == "CMB-20261201-1"

        approved = await client.post(
            f"/api/custom-requests/{request['id']}/approve-proof", headers=auth(user)
        )
        assert approved.status_code == 200 and approved.json()["status"] == "in_production"

        for index in (1, 2, 3):
            shipped = await client.post(
                f"/api/admin/orders/{order['id']}/ship",
                json={"carrier": "顺丰速运", "tracking_no": f"SF00000000{index}", "recipient_index": index},
                headers=auth(merchant),
            )
            assert shipped.status_code == 200, shipped.text
            assert shipped.json()["status"] == "paid"
        twice = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "顺丰速运", "tracking_no": "SF000000009", "recipient_index": 2},
            headers=auth(merchant),
        )
        assert twice.status_code == 409 and twice.json()["code"] == "parcel_already_shipped"
        missing = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "顺丰速运", "tracking_no": "SF000000009", "recipient_index": 9},
            headers=auth(merchant),
        )
        assert missing.status_code == 404 and missing.json()["code"] == "recipient_not_found"
        progress = await client.get(f"/api/admin/custom-requests/{request['id']}", headers=auth(merchant))
        assert (progress.json()["parcels_shipped"], progress.json()["recipients_count"]) == (3, 4)

        last = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "京东物流", "tracking_no": "JD000000004", "recipient_index": 4},
            headers=auth(merchant),
        )
        assert last.status_code == 200 and last.json()["status"] == "shipped"

        sheet = await client.get(
            f"/api/admin/custom-requests/{request['id']}/shipping-list.xlsx", headers=auth(merchant)
        )
        assert sheet.status_code == 200
        rows = list(
            load_workbook(io.BytesIO(sheet.content), read_only=True).worksheets[0].iter_rows(values_only=True)
        )
        assert rows[0][0] == "序号" and len(rows) == 5
        assert rows[4][1:3] == ("收件人4", recipient(4)["phone"]) and rows[4][-1] == "JD000000004"

    async def test_a_standard_order_refuses_recipient_index(self, client):
        from tests.orders.factories import customer, paid_order

        user, address = await customer()
        order = await paid_order(client, user, address, await sku_on_sale())
        response = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "顺丰速运", "tracking_no": "SF1234567890", "recipient_index": 1},
            headers=auth(await staff()),
        )
        assert response.status_code == 409

    async def test_an_expired_quote_cannot_be_accepted(self, client, shop_clock):
        user, sku = await create_user(), await sku_on_sale()
        request = await quoted_request(client, user, sku)
        shop_clock.advance(timedelta(days=8))
        response = await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))
        assert response.status_code == 409 and response.json()["code"] == "quote_expired"
        assert await count_orders() == 0

    async def test_an_order_left_unpaid_frees_the_request_for_a_new_acceptance(self, client, shop_clock):
        user, sku = await create_user(), await sku_on_sale()
        request = await quoted_request(client, user, sku)
        first = (await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))).json()
        shop_clock.advance(timedelta(days=7, minutes=1))
        async with session_scope() as session:
            assert await orders_jobs.cancel_expired(session) >= 1
        assert (await get_order(first["id"])).status == "cancelled"
        row = await request_row(request["id"])
        assert (row.order_id, row.accept_no) == (None, 1)
        # the quote expired meanwhile: staff quote again, and a new acceptance places a new order
        assert (await quote(client, request["id"])).status_code == 200
        second = await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))
        assert second.status_code == 201 and second.json()["id"] != first["id"]

    async def test_offline_payment_is_for_custom_orders_and_staff_only(self, client):
        from tests.orders.factories import customer, pending_order

        user, address = await customer()
        order = await pending_order(client, user, address, await sku_on_sale())
        payload = {"amount_fen": order["total_fen"], "reference": "X-1"}
        url = f"/api/admin/orders/{order['id']}/offline-payment"
        assert (await client.post(url, json=payload, headers=auth(user))).status_code == 403
        response = await client.post(url, json=payload, headers=auth(await staff()))
        assert response.status_code == 409 and response.json()["code"] == "invalid_order_state"


class TestOrdinaryChannels:
    async def test_a_custom_order_is_paid_like_any_order_through_the_sandbox(self, client):
        from tests.payments.factories import sandbox_body, sandbox_notify, start_payment

        user, sku = await create_user(), await sku_on_sale()
        request = await quoted_request(client, user, sku)
        order = (await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))).json()
        payment = await start_payment(client, user, order["id"])
        assert payment["amount_fen"] == order["total_fen"] == 10000 * 20 + 50000
        notified = await sandbox_notify(client, sandbox_body(payment, order))
        assert notified.status_code == 200, notified.text
        assert (await get_order(order["id"])).status == "paid"


class TestExcelVariants:
    async def test_numbers_typed_as_numbers_gaps_and_a_second_sheet(self, client):
        from openpyxl import Workbook

        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        book = Workbook()
        sheet = book.active
        sheet.append(["数量", "收件人", "手机号", "省份", "城市", "区县", "详细地址", "备注"])
        sheet.append([10.0, "张三", 13900000001, "黑龙江", "哈尔滨市", "道里区", "友谊路 1 号", None])
        sheet.append([])  # an empty row is skipped
        sheet.append(
            [10, "李四", "13900000002", "Guangdong", "广州市", "天河区", "体育西路 2 号", "前台代收"]
        )
        book.create_sheet("说明").append(["这张表不会被读取"])
        out = io.BytesIO()
        book.save(out)
        response = await _upload(client, user, request["id"], out.getvalue(), "list.xlsx")
        assert response.status_code == 200, response.text
        rows = await recipient_rows(request["id"])
        assert [(r.recipient, r.phone, r.province, r.quantity) for r in rows] == [
            ("张三", "13900000001", "黑龙江省", 10),
            ("李四", "13900000002", "广东省", 10),
        ]

    async def test_a_zip_that_is_not_a_workbook_is_unsupported(self, client):
        import zipfile

        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("hello.txt", "not a workbook")
        response = await _upload(client, user, request["id"], out.getvalue(), "list.xlsx")
        assert response.status_code == 422 and response.json()["code"] == "unsupported_file"
