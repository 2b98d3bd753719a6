"""Run inside the temporary venv with the generated `daoxiang_api_client` installed (not by pytest): what an
integrator's script does. Prints one JSON line with what it saw.

    python client_flow.py BASE_URL PHONE PASSWORD ADDRESS_ID SANDBOX_SECRET
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import uuid

from daoxiang_api_client import AuthenticatedClient, Client
from daoxiang_api_client.api.auth import login
from daoxiang_api_client.api.catalog import get_product, list_products
from daoxiang_api_client.api.orders import get_my_order, place_order
from daoxiang_api_client.api.payments import create_payment
from daoxiang_api_client.models import (
    Channel,
    LoginRequest,
    OrderCreate,
    OrderLineIn,
    PaymentCreate,
    TokenPair,
)


def main() -> None:
    base_url, phone, password, address_id, sandbox_secret = sys.argv[1:6]
    public = Client(base_url=base_url, raise_on_unexpected_status=True)

    found = list_products.sync(client=public, q="稻花香")
    product = get_product.sync(client=public, product_id=found.items[0].id)
    sku = product.skus[0]

    tokens = login.sync(client=public, body=LoginRequest(phone=phone, password=password))
    assert isinstance(tokens, TokenPair), tokens
    me = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)

    order = place_order.sync(
        client=me,
        body=OrderCreate(address_id=int(address_id), items=[OrderLineIn(sku_id=sku.id, quantity=2)]),
        idempotency_key=str(uuid.uuid4()),
    )
    payment = create_payment.sync(client=me, order_id=order.id, body=PaymentCreate(channel=Channel.SANDBOX))

    # The sandbox gateway's callback, signed as the gateway signs it (the route reads the raw body).
    notice = json.dumps(
        {
            "payment_id": payment.id,
            "order_no": order.order_no,
            "amount_fen": order.total_fen,
            "status": "success",
            "paid_at": "2026-11-30T04:00:00+00:00",
        }
    ).encode()
    signature = hmac.new(sandbox_secret.encode(), notice, hashlib.sha256).hexdigest()
    ack = public.get_httpx_client().post(
        "/api/payments/sandbox/notify",
        content=notice,
        headers={"Content-Type": "application/json", "X-Sandbox-Signature": signature},
    )
    paid = get_my_order.sync(client=me, order_id=order.id)
    print(
        json.dumps(
            {
                "found": [p.name for p in found.items],
                "sku_price_fen": sku.price_fen,
                "order_id": order.id,
                "order_status_at_first": str(order.status),
                "total_fen": order.total_fen,
                "payment_channel": str(payment.channel),
                "ack": ack.status_code,
                "status": str(paid.status),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
