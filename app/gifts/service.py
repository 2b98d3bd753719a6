"""Custom requests (企业定制礼盒): what the company asks for, the staff's quote and proof, and the request's
side of accepting (app.flows.custom_orders places the order of kind `custom` through the one checkout) and
of shipping one parcel per recipient (`ship_parcel`, registered with orders by app.flows.order_kinds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit, events
from app.catalog import repository as catalog_repository
from app.catalog.models import ProductStatus
from app.config import get_settings
from app.db import utcnow
from app.gifts import proofs, recipients, repository
from app.gifts.errors import (
    AlreadyAccepted,
    CustomRequestNotFound,
    InvalidRequestState,
    QuantityTooSmall,
    QuoteExpired,
    SkuNotFound,
)
from app.gifts.models import CustomRecipient, CustomRequest, RequestStatus
from app.gifts.schemas import CustomRequestCreate, QuoteCreate, RecipientIn
from app.orders import service as orders_service
from app.orders.models import OrderStatus
from app.users.models import User

R = RequestStatus
ACCEPTABLE = (R.quoted.value, R.proof_ready.value)


def total_fen(request: CustomRequest) -> int | None:
    if request.unit_price_fen is None or request.setup_fee_fen is None:
        return None
    return request.unit_price_fen * request.quantity + request.setup_fee_fen


def _event(request: CustomRequest, **extra: Any) -> dict[str, Any]:
    return {"request_id": request.id, "user_id": request.user_id, "company": request.company, **extra}


async def _emit(session: AsyncSession, event_type: str, request: CustomRequest, **extra: Any) -> None:
    await events.emit(session, event_type, _event(request, **extra), subject=f"custom_request/{request.id}")


async def get_or_raise(session: AsyncSession, request_id: int, *, lock: bool = False) -> CustomRequest:
    request = await repository.get(session, request_id, lock=lock)
    if request is None:
        raise CustomRequestNotFound("No such custom request.")
    return request


async def get_own_or_raise(session: AsyncSession, user: User, request_id: int, **kw: Any) -> CustomRequest:
    """The customer's own request; another's is answered exactly like one that does not exist."""
    request = await repository.get(session, request_id, **kw)
    if request is None or request.user_id != user.id:
        raise CustomRequestNotFound("No such custom request.")
    return request


def _check_quantity(quantity: int) -> None:
    minimum = get_settings().custom_min_quantity
    if quantity < minimum:
        raise QuantityTooSmall(
            f"Custom boxes start at {minimum}; this request is for {quantity}.", minimum=minimum
        )


async def _check_sku(session: AsyncSession, sku_id: int) -> None:
    sku = await catalog_repository.get_sku(session, sku_id)
    product = await catalog_repository.get_product(session, sku.product_id) if sku is not None else None
    if sku is None or not sku.is_active or product is None or product.status != ProductStatus.published.value:
        raise SkuNotFound("No such SKU on sale.", sku_id=sku_id)


async def create(session: AsyncSession, user: User, data: CustomRequestCreate) -> CustomRequest:
    _check_quantity(data.quantity)
    await _check_sku(session, data.sku_id)
    rows: list[RecipientIn] = []
    if data.recipients:
        rows = recipients.validate(recipients.typed([r.model_dump() for r in data.recipients]), data.quantity)
    request = CustomRequest(
        user_id=user.id,
        **data.model_dump(exclude={"recipients"}),
        status=R.requested.value,
        recipients_count=len(rows),
        accept_no=0,
        parcels_shipped=0,
    )
    session.add(request)
    await session.flush()
    if rows:
        await repository.replace_recipients(session, request.id, [r.model_dump() for r in rows])
    await _emit(session, "custom_request.created", request, quantity=request.quantity, sku_id=request.sku_id)
    return request


async def upload_recipients(session: AsyncSession, user: User, request_id: int, data: bytes) -> CustomRequest:
    """The request's whole list replaced by the file's rows, or nothing stored (every bad row reported).
    Only before the quote: the price is for this list."""
    request = await get_own_or_raise(session, user, request_id, lock=True)
    if request.status != R.requested:
        raise InvalidRequestState(
            "The recipients can be changed only before the quote.", request_status=request.status
        )

    def parse() -> list[dict[str, Any]]:
        return [r.model_dump() for r in recipients.validate(recipients.parse_file(data), request.quantity)]

    rows = await anyio.to_thread.run_sync(parse)
    await repository.replace_recipients(session, request.id, rows)
    now = utcnow()
    await repository.move(
        session, request.id, (R.requested.value,), {"recipients_count": len(rows), "updated_at": now}
    )
    await _emit(session, "custom_request.recipients_uploaded", request, recipients=len(rows))
    return await get_or_raise(session, request.id)


async def quote(session: AsyncSession, staff: User, request_id: int, data: QuoteCreate) -> CustomRequest:
    request = await get_or_raise(session, request_id, lock=True)
    if request.status not in (R.requested, R.quoted) or request.order_id is not None:
        raise InvalidRequestState(
            "Only a request not yet accepted or proofed can be quoted.", request_status=request.status
        )
    if request.recipients_count == 0:
        raise InvalidRequestState("The request has no recipients yet.", request_status=request.status)
    now = utcnow()
    if data.valid_until <= now:
        raise QuoteExpired("valid_until must be in the future.")
    values = {
        "status": R.quoted.value,
        "unit_price_fen": data.unit_price_fen,
        "setup_fee_fen": data.setup_fee_fen,
        "valid_until": data.valid_until,
        "quoted_by": staff.id,
        "quoted_at": now,
        "updated_at": now,
    }
    if not await repository.move(session, request.id, (R.requested.value, R.quoted.value), values):
        raise InvalidRequestState("The request changed meanwhile; reload it.")
    request = await get_or_raise(session, request.id)
    await audit.record(
        session,
        staff,
        "custom_request.quote",
        "custom_request",
        request.id,
        {
            k: {"after": v.isoformat() if isinstance(v, datetime) else v}
            for k, v in values.items()
            if k in ("unit_price_fen", "setup_fee_fen", "valid_until")
        },
    )
    await _emit(
        session,
        "custom_request.quoted",
        request,
        unit_price_fen=data.unit_price_fen,
        setup_fee_fen=data.setup_fee_fen,
        total_fen=total_fen(request),
        valid_until=data.valid_until.isoformat(),
    )
    return request


async def upload_proof(session: AsyncSession, staff: User, request_id: int, data: bytes) -> CustomRequest:
    """The artwork proof (PDF as sent, or PNG/JPEG/WebP re-encoded like product images); a new proof
    replaces the last one until the company approves."""
    request = await get_or_raise(session, request_id, lock=True)
    if request.status not in ACCEPTABLE:
        raise InvalidRequestState(
            "A proof is uploaded after the quote and before it is approved.", request_status=request.status
        )
    content, content_type = await proofs.clean(data)
    path = await proofs.store(request.id, content, content_type)
    now = utcnow()
    values = {
        "status": R.proof_ready.value,
        "proof_path": path,
        "proof_content_type": content_type,
        "proof_uploaded_at": now,
        "updated_at": now,
    }
    if not await repository.move(session, request.id, ACCEPTABLE, values):
        raise InvalidRequestState("The request changed meanwhile; reload it.")
    await audit.record(
        session, staff, "custom_request.proof", "custom_request", request.id, {"proof_path": {"after": path}}
    )
    request = await get_or_raise(session, request.id)
    await _emit(session, "custom_request.proof_ready", request)
    return request


@dataclass(frozen=True, slots=True)
class AcceptTerms:
    """What the order of an accepted quote is made of (read by app.checkout.custom's steps)."""

    request_id: int
    accept_no: int
    sku_id: int
    quantity: int
    unit_price_fen: int
    setup_fee_fen: int
    contact: dict[str, str]


async def terms_to_accept(session: AsyncSession, user: User, request_id: int) -> AcceptTerms:
    request = await get_own_or_raise(session, user, request_id)
    if request.order_id is not None:
        raise AlreadyAccepted("This quote was accepted already.", order_id=request.order_id)
    if request.status not in ACCEPTABLE:
        raise InvalidRequestState("There is no quote to accept yet.", request_status=request.status)
    assert request.unit_price_fen is not None and request.setup_fee_fen is not None
    assert request.valid_until is not None
    if request.valid_until <= utcnow():
        raise QuoteExpired("This quote has expired; ask for a new one.")
    first = (await repository.recipients(session, request.id))[0]
    contact = {
        "recipient": f"{request.contact_name}（{request.company}）"[:32],
        "phone": request.contact_phone,
        "province": first.province,
        "city": first.city,
        "district": first.district,
        "detail": f"{request.recipients_count} 位收件人，见定制需求 #{request.id}"[:200],
    }
    return AcceptTerms(
        request.id,
        request.accept_no,
        request.sku_id,
        request.quantity,
        request.unit_price_fen,
        request.setup_fee_fen,
        contact,
    )


async def link_order(session: AsyncSession, terms: AcceptTerms, order_id: int) -> CustomRequest:
    """The accepted quote's order; AlreadyAccepted for the second of two racing acceptances."""
    if not await repository.link_order(session, terms.request_id, terms.accept_no, order_id, utcnow()):
        request = await get_or_raise(session, terms.request_id)
        raise AlreadyAccepted("This quote was accepted already.", order_id=request.order_id)
    request = await get_or_raise(session, terms.request_id)
    await _emit(session, "custom_request.accepted", request, order_id=order_id, total_fen=total_fen(request))
    return request


async def approve_proof(session: AsyncSession, user: User, request_id: int) -> CustomRequest:
    """The company approves the proof of its accepted, paid order: production starts."""
    request = await get_own_or_raise(session, user, request_id, lock=True)
    if request.status != R.proof_ready:
        raise InvalidRequestState("There is no proof waiting for approval.", request_status=request.status)
    if request.order_id is None:
        raise InvalidRequestState(
            "Accept the quote before approving the proof.", request_status=request.status
        )
    order = await orders_service.get_or_raise(session, request.order_id)
    if order.status != OrderStatus.paid:
        raise InvalidRequestState(
            "The order must be paid before production starts.", order_status=order.status
        )
    now = utcnow()
    if not await repository.move(
        session,
        request.id,
        (R.proof_ready.value,),
        {"status": R.in_production.value, "proof_approved_at": now, "updated_at": now},
    ):
        raise InvalidRequestState("The request changed meanwhile; reload it.")
    request = await get_or_raise(session, request.id)
    await _emit(session, "custom_request.in_production", request, order_id=request.order_id)
    return request


async def give_back_orders(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """app.orders.releases: a custom order reserves no SKU stock (the boxes are made to order); when it
    ends unpaid its request can be accepted again."""
    await repository.unlink_orders(session, order_ids, utcnow())


async def list_own(
    session: AsyncSession, user: User, offset: int, limit: int
) -> tuple[Sequence[CustomRequest], int]:
    return await repository.list_of(session, user_id=user.id, status=None, offset=offset, limit=limit)


async def list_for_staff(
    session: AsyncSession, status: str | None, offset: int, limit: int
) -> tuple[Sequence[CustomRequest], int]:
    return await repository.list_of(session, user_id=None, status=status, offset=offset, limit=limit)


async def recipients_of(session: AsyncSession, request: CustomRequest) -> Sequence[CustomRecipient]:
    return await repository.recipients(session, request.id)


SHIPPING_HEADER = (
    "序号",
    "收件人",
    "手机号",
    "省份",
    "城市",
    "区县",
    "详细地址",
    "数量",
    "包装文字",
    "快递公司",
    "运单号",
)


async def shipping_list(session: AsyncSession, request_id: int) -> tuple[CustomRequest, bytes]:
    """The courier's list as an XLSX workbook, one row per parcel."""
    request = await get_or_raise(session, request_id)
    rows = [
        (
            r.idx,
            r.recipient,
            r.phone,
            r.province,
            r.city,
            r.district,
            r.detail,
            r.quantity,
            request.packaging_text,
            r.carrier or "",
            r.tracking_no or "",
        )
        for r in await repository.recipients(session, request.id)
    ]
    data = await anyio.to_thread.run_sync(recipients.shipping_list_xlsx, rows, SHIPPING_HEADER)
    return request, data


async def recipients_page(
    session: AsyncSession, request: CustomRequest, offset: int, limit: int
) -> Sequence[CustomRecipient]:
    return await repository.recipients_page(session, request.id, offset, limit)
