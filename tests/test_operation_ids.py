"""Integrators' generated clients name their functions after the operationIds: ASCII, camelCase, unique, and
stable (the contract routes keep theirs; renaming an endpoint function changes the API)."""

from __future__ import annotations

import re
from collections import Counter

from fastapi import APIRouter, FastAPI

from app.kit.openapi import operation_id
from tests.test_openapi import operations, served

CAMEL_CASE = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")

# The contract's routes (CONTRACT.md) and the ids their generated client functions carry.
CONTRACT_IDS = {
    ("post", "/api/users"): "registerUser",
    ("post", "/api/auth/login"): "login",
    ("post", "/api/auth/refresh"): "refresh",
    ("get", "/api/users/me"): "getMe",
    ("get", "/api/products"): "listProducts",
    ("get", "/api/products/{product_id}"): "getProduct",
    ("get", "/api/categories"): "listCategories",
    ("get", "/api/cart"): "getCart",
    ("put", "/api/cart/items/{sku_id}"): "setItem",
    ("post", "/api/orders"): "placeOrder",
    ("get", "/api/orders"): "listMyOrders",
    ("get", "/api/orders/{order_id}"): "getMyOrder",
    ("post", "/api/orders/{order_id}/cancel"): "cancelOrder",
    ("post", "/api/orders/{order_id}/payments"): "createPayment",
    ("post", "/api/payments/sandbox/notify"): "sandboxNotify",
    ("post", "/api/admin/orders/{order_id}/ship"): "shipOrder",
    ("get", "/api/trace/{code}"): "verifyTraceCode",
    ("post", "/api/admin/coupons"): "createCoupon",
    ("post", "/api/flash-sales/{sale_id}/orders"): "placeFlashSaleOrder",
    ("post", "/api/admin/webhooks"): "createWebhook",
    ("get", "/api/admin/webhooks/{webhook_id}/deliveries"): "listWebhookDeliveries",
}


def ids() -> dict[tuple[str, str], str]:
    return {(method, path): op.get("operationId", "") for method, path, op in operations(served())}


class TestOperationIds:
    def test_the_title_is_ascii_and_the_chinese_name_is_in_the_description(self):
        info = served()["info"]
        assert info["title"].isascii() and info["title"] == "Daoxiang API"
        assert "稻香" in info["description"]

    def test_every_operation_has_a_camel_case_id(self):
        wrong = {key: value for key, value in ids().items() if not CAMEL_CASE.match(value)}
        assert not wrong

    def test_ids_are_unique(self):
        counts = Counter(ids().values())
        assert [name for name, n in counts.items() if n > 1] == []

    def test_the_contract_routes_keep_their_ids(self):
        actual = ids()
        assert {key: actual.get(key) for key in CONTRACT_IDS} == CONTRACT_IDS

    def test_a_new_route_gets_an_id_from_its_function_name_without_saying_so(self):
        router = APIRouter()

        @router.get("/api/things/{thing_id}/parts")
        async def list_thing_parts_for_staff() -> dict:
            return {}

        new_app = FastAPI(generate_unique_id_function=operation_id)
        new_app.include_router(router)
        (operation,) = new_app.openapi()["paths"]["/api/things/{thing_id}/parts"].values()
        assert operation["operationId"] == "listThingPartsForStaff"
