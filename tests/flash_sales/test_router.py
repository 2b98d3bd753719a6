"""Flash sales through the API, on SQLite and on MariaDB (with Redis when TEST_REDIS_URL is set, the gate in
front; without it the database alone decides, and must answer the same)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import session_scope, utcnow
from app.flash_sales import service as flash_service
from app.orders import jobs as orders_jobs
from app.users.models import Role
from tests.flash_sales.factories import buy, create_flash_sale, remaining, sale_row, shift_clock
from tests.orders.factories import count_orders, customer, sku_on_sale, staff, stock_of
from tests.users.factories import auth, create_user


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _body(sku_id: int, **overrides: object) -> dict:
    start = utcnow() - timedelta(minutes=1)
    return {
        "sku_id": sku_id,
        "price_fen": 3990,
        "quantity": 20,
        "per_customer_limit": 1,
        "starts_at": _iso(start),
        "ends_at": _iso(start + timedelta(hours=1)),
        **overrides,
    }


class TestCreateFlashSale:
    async def test_staff_create_a_sale_whose_quantity_leaves_the_stock(self, client):
        sku = await sku_on_sale(stock=50)
        response = await client.post(
            "/api/admin/flash-sales", json=_body(sku.id), headers=auth(await staff())
        )
        assert response.status_code == 201, response.text
        sale = response.json()
        assert (sale["quantity"], sale["remaining"], sale["price_fen"]) == (20, 20, 3990)
        assert await stock_of(sku.id) == 30

    async def test_more_than_the_stock_is_out_of_stock_and_takes_nothing(self, client):
        sku = await sku_on_sale(stock=5)
        response = await client.post(
            "/api/admin/flash-sales", json=_body(sku.id, quantity=6), headers=auth(await staff())
        )
        assert response.status_code == 409 and response.json()["code"] == "out_of_stock"
        assert await stock_of(sku.id) == 5

    async def test_a_window_that_ends_before_it_starts_is_422(self, client):
        sku = await sku_on_sale(stock=50)
        now = utcnow()
        body = _body(sku.id, starts_at=_iso(now), ends_at=_iso(now - timedelta(minutes=1)))
        response = await client.post("/api/admin/flash-sales", json=body, headers=auth(await staff()))
        assert response.status_code == 422 and response.json()["code"] == "validation_error"

    async def test_an_unknown_sku_is_404(self, client):
        response = await client.post(
            "/api/admin/flash-sales", json=_body(999_999), headers=auth(await staff())
        )
        assert response.status_code == 404 and response.json()["code"] == "sku_not_found"

    async def test_customers_may_not_and_anonymous_must_log_in(self, client):
        sku = await sku_on_sale(stock=50)
        user, _ = await customer()
        forbidden = await client.post("/api/admin/flash-sales", json=_body(sku.id), headers=auth(user))
        anonymous = await client.post("/api/admin/flash-sales", json=_body(sku.id))
        assert (forbidden.status_code, anonymous.status_code) == (403, 401)
        assert await stock_of(sku.id) == 50


class TestPublicReads:
    async def test_running_and_upcoming_sales_are_listed_soonest_first(self, client):
        sku = await sku_on_sale(stock=100)
        now = utcnow()
        running = await create_flash_sale(sku, starts_at=now - timedelta(minutes=5))
        upcoming = await create_flash_sale(sku, starts_at=now + timedelta(hours=2))
        await create_flash_sale(sku, starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1))
        response = await client.get("/api/flash-sales")
        assert response.status_code == 200
        assert [s["id"] for s in response.json()["items"]] == [running.id, upcoming.id]
        assert response.json()["total"] == 2

    async def test_one_sale_shows_what_remains(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=3)
        user, address = await customer()
        assert (await buy(client, user, address, sale)).status_code == 201
        response = await client.get(f"/api/flash-sales/{sale.id}")
        assert response.status_code == 200
        body = response.json()
        assert set(body) >= {"id", "sku_id", "price_fen", "quantity", "remaining", "starts_at", "ends_at"}
        assert (body["quantity"], body["remaining"]) == (3, 2)

    async def test_an_unknown_sale_is_404(self, client):
        response = await client.get("/api/flash-sales/999999")
        assert response.status_code == 404 and response.json()["code"] == "flash_sale_not_found"


class TestBuy:
    async def test_an_order_of_kind_flash_sale_at_the_sale_price_from_the_sale_not_the_stock(self, client):
        sku = await sku_on_sale(stock=100, price_fen=5990)
        sale = await create_flash_sale(sku, price_fen=3990, quantity=5, per_customer_limit=2)
        user, address = await customer()
        before = utcnow()
        response = await buy(client, user, address, sale, 2)
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["kind"] == "flash_sale"
        assert [(i["sku_id"], i["quantity"], i["unit_price_fen"]) for i in order["items"]] == [
            (sku.id, 2, 3990)
        ]
        assert order["subtotal_fen"] == 7980
        deadline = datetime.fromisoformat(order["pay_deadline"])
        assert before + timedelta(minutes=5) <= deadline < utcnow() + timedelta(minutes=5, seconds=5)
        assert await remaining(sale.id) == 3
        assert await stock_of(sku.id) == 95  # the sale's 5, taken at creation; nothing more

    async def test_the_per_customer_limit(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, per_customer_limit=2)
        user, address = await customer()
        assert (await buy(client, user, address, sale, 1)).status_code == 201
        refused = await buy(client, user, address, sale, 2)
        assert refused.status_code == 409 and refused.json()["code"] == "flash_sale_limit_reached"
        assert (await buy(client, user, address, sale, 1)).status_code == 201
        assert await remaining(sale.id) == 8

    async def test_sold_out(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=1)
        first, second = await customer(), await customer()
        assert (await buy(client, *first, sale)).status_code == 201
        refused = await buy(client, *second, sale)
        assert refused.status_code == 409 and refused.json()["code"] == "sold_out"
        assert await count_orders() == 1

    async def test_before_and_after_the_window_it_is_not_active(self, client):
        sku = await sku_on_sale(stock=100)
        now = utcnow()
        upcoming = await create_flash_sale(sku, starts_at=now + timedelta(minutes=10))
        ended = await create_flash_sale(
            sku, starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
        )
        user, address = await customer()
        for sale in (upcoming, ended):
            refused = await buy(client, user, address, sale)
            assert refused.status_code == 409 and refused.json()["code"] == "flash_sale_not_active"
        assert await count_orders() == 0

    async def test_the_window_follows_the_clock(self, client, monkeypatch):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, starts_at=utcnow() + timedelta(minutes=10))
        user, address = await customer()
        shift_clock(monkeypatch, timedelta(minutes=11))
        assert (await buy(client, user, address, sale)).status_code == 201

    async def test_an_idempotency_key_answers_a_repeat_with_the_same_order(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=5, per_customer_limit=1)
        user, address = await customer()
        first = await buy(client, user, address, sale, key="rush-1")
        again = await buy(client, user, address, sale, key="rush-1")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert await remaining(sale.id) == 4 and await count_orders() == 1

    async def test_an_unknown_sale_or_someone_elses_address_refuses_and_takes_nothing(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=2)
        user, address = await customer()
        _, other_address = await customer()
        unknown = await buy(client, user, address, 999_999)
        assert unknown.status_code == 404 and unknown.json()["code"] == "flash_sale_not_found"
        not_theirs = await buy(client, user, other_address, sale)
        assert not_theirs.status_code == 404 and not_theirs.json()["code"] == "address_not_found"
        assert await remaining(sale.id) == 2
        # What the refused request took at the gate went back: the customer's one unit is still theirs to buy.
        assert (await buy(client, user, address, sale)).status_code == 201

    async def test_a_bad_body_is_422(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku)
        user, address = await customer()
        response = await client.post(
            f"/api/flash-sales/{sale.id}/orders",
            json={"address_id": address.id, "quantity": 0},
            headers=auth(user),
        )
        assert response.status_code == 422 and response.json()["code"] == "validation_error"


class TestGivingBack:
    async def test_a_cancelled_order_returns_its_units_and_the_customers_allowance_to_the_sale(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=1)
        user, address = await customer()
        order = (await buy(client, user, address, sale)).json()
        cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        assert cancelled.status_code == 200, cancelled.text
        assert await remaining(sale.id) == 1 and await stock_of(sku.id) == 99
        assert (await buy(client, user, address, sale)).status_code == 201

    async def test_an_unpaid_order_times_out_after_five_minutes_and_its_units_return_to_the_sale(
        self, client, monkeypatch
    ):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=2)
        user, address = await customer()
        order = (await buy(client, user, address, sale)).json()
        shift_clock(monkeypatch, timedelta(minutes=4))
        async with session_scope() as session:
            assert await orders_jobs.cancel_expired(session) == 0
        shift_clock(monkeypatch, timedelta(minutes=5, seconds=1))
        async with session_scope() as session:
            assert await orders_jobs.cancel_expired(session) == 1
        assert (await client.get(f"/api/orders/{order['id']}", headers=auth(user))).json()[
            "status"
        ] == "cancelled"
        assert await remaining(sale.id) == 2 and await stock_of(sku.id) == 98

    async def test_after_the_sale_closed_a_cancelled_order_returns_its_units_to_the_stock(
        self, client, monkeypatch
    ):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=3)
        user, address = await customer()
        order = (await buy(client, user, address, sale)).json()
        shift_clock(monkeypatch, timedelta(hours=2))
        async with session_scope() as session:
            assert await flash_service.close_ended(session) == 1
        assert await stock_of(sku.id) == 99  # the 2 unsold
        assert (await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))).status_code == 200
        assert await stock_of(sku.id) == 100 and await remaining(sale.id) == 0


class TestClosing:
    async def test_an_ended_sale_returns_what_is_unsold_to_the_stock_once(self, client, monkeypatch):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=10)
        user, address = await customer()
        assert (await buy(client, user, address, sale)).status_code == 201
        async with session_scope() as session:
            assert await flash_service.close_ended(session) == 0  # still running
        shift_clock(monkeypatch, timedelta(hours=1, seconds=1))
        for expected in (1, 0):
            async with session_scope() as session:
                assert await flash_service.close_ended(session) == expected
        assert await stock_of(sku.id) == 99
        closed = await sale_row(sale.id)
        assert (closed.remaining, closed.returned_to_stock) == (0, 9) and closed.closed_at is not None
        refused = await buy(client, *(await customer()), sale)
        assert refused.status_code == 409 and refused.json()["code"] == "flash_sale_not_active"

    async def test_staff_cancel_a_sale_and_its_units_go_back_now(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=10)
        headers = auth(await staff())
        response = await client.post(f"/api/admin/flash-sales/{sale.id}/cancel", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["cancelled_at"] is not None
        assert await stock_of(sku.id) == 100
        again = await client.post(f"/api/admin/flash-sales/{sale.id}/cancel", headers=headers)
        assert again.status_code == 409 and again.json()["code"] == "flash_sale_closed"
        assert (await client.get("/api/flash-sales")).json()["items"] == []

    async def test_the_back_office_list(self, client):
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku)
        response = await client.get(
            "/api/admin/flash-sales", headers=auth(await create_user(role=Role.admin))
        )
        assert response.status_code == 200
        assert [s["id"] for s in response.json()["items"]] == [sale.id]
