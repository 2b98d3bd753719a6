"""The checkout request, parsed the same way by the route (app.checkout.router) and the fast path
(app.checkout.fast_path): the Idempotency-Key's rules, the body limit, the body's schema and its hash."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import Header
from pydantic import ValidationError

from app.config import get_settings
from app.flash_sales.schemas import FlashSaleOrderCreate
from app.orders import idempotency
from app.orders.schemas import OrderCreate

KEY_CHARS = r"[\x21-\x7e]"  # printable ASCII without the space
KEY_MAX_LENGTH = 255

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=f"^{KEY_CHARS}+$",
        description="Any unique string (a UUID is good). Repeating a request with the same key and body "
        "returns the first answer instead of placing a second order; keys are kept for at least 24 hours.",
    ),
]

_KEY_BYTES = re.compile(f"{KEY_CHARS}{{1,{KEY_MAX_LENGTH}}}".encode())


def valid_key(raw: bytes) -> bool:
    """The header's rules (IdempotencyKeyHeader) on its raw bytes."""
    return _KEY_BYTES.fullmatch(raw) is not None


def body_fits(length: int) -> bool:
    """MAX_BODY_BYTES, as app.kit.middleware.BodySizeLimitMiddleware applies it to the route."""
    return length <= get_settings().max_body_bytes


def parse_order(body: bytes) -> OrderCreate | None:
    """The body as the route's `OrderCreate`, or None when it is not JSON or not a valid order."""
    try:
        return OrderCreate.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def parse_flash_sale_order(body: bytes) -> FlashSaleOrderCreate | None:
    """The body as the flash-sale route's `FlashSaleOrderCreate`, or None when it is not one."""
    try:
        return FlashSaleOrderCreate.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def body_hash(data: OrderCreate, offer: dict[str, Any] | None = None) -> str:
    """What an Idempotency-Key's stored request is compared by: the order's body and, for a kind with its own
    request (a flash sale), what that names, so a key cannot answer one kind's request with another's."""
    body = data.model_dump(mode="json")
    return idempotency.request_hash(body if offer is None else {**body, "offer": offer})
