"""What the back office's traceability forms share (batches, producers and plots, certificates): Chinese
labels and hints for their fields, the schema check that turns into per-field messages, and the service
refusals a form shows next to a field (app.storefront.messages.FIELD_MESSAGES)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError

from app.catalog import service as catalog_service
from app.db import SessionDep
from app.errors import AppError
from app.kit.pagination import PageParams
from app.kit.params import parse_id
from app.storefront import messages
from app.storefront.forms import errors_by_field
from app.traceability import service as trace_service

MAX_CHOICES = 200  # products / batches offered in a form's select

FIELD_LABELS = {
    "name": "名称",
    "region": "产区",
    "license_no": "地理标志授权编号",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "address": "地址",
    "description": "简介",
    "village": "所在村",
    "area_mu": "面积（亩）",
    "latitude": "纬度",
    "longitude": "经度",
    "product_id": "商品",
    "producer_id": "生产者",
    "batch_id": "批次",
    "plot": "地块",
    "batch_no": "批次号",
    "variety": "品种",
    "planted_on": "种植日期",
    "harvested_on": "收割日期",
    "milled_on": "加工日期",
    "packed_on": "包装日期",
    "best_before_on": "保质期至",
    "quantity_kg": "数量（公斤）",
    "notes": "备注",
    "kind": "证书类型",
    "number": "证书编号",
    "issuer": "颁发机构",
    "valid_from": "生效日期",
    "valid_until": "到期日期",
}
FIELD_HINTS = {
    "batch_no": "批次号只能包含字母、数字和连字符（-），最长 32 位，以字母或数字开头。",
    "quantity_kg": "数量请填写大于 0 的公斤数，最多 3 位小数。",
    "area_mu": "面积请填写不小于 0 的亩数，最多 2 位小数。",
    "latitude": "纬度请填写 -90 到 90 之间的数，最多 6 位小数。",
    "longitude": "经度请填写 -180 到 180 之间的数，最多 6 位小数。",
}
CHOICE_FIELDS = frozenset({"product_id", "producer_id", "batch_id", "kind"})


def form_errors(exc: ValidationError, whole: str, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Chinese messages per form field; `whole` is the message of a model-level (cross-field) error,
    `labels` names fields differently from FIELD_LABELS for this form."""
    return errors_by_field(
        exc,
        labels={**FIELD_LABELS, **(labels or {})},
        hints=FIELD_HINTS,
        choices=CHOICE_FIELDS,
        whole=whole,
        stop="。",
    )


def refusal(exc: AppError) -> dict[str, str]:
    """The form's message for a service error a form can cause (the call ran in `refusable`, so nothing of
    it was written and the form is shown again); any other error goes on up."""
    known = messages.FIELD_MESSAGES.get(exc.code)
    if known is None:
        raise exc
    return {known[0]: known[1]}


def form_state(
    request: Request, notices: dict[str, str], values: dict[str, str] | None, errors: dict[str, str] | None
) -> dict[str, Any]:
    """What a page with a create form shows: the typed values and errors, or the notice of ?done=."""
    flash = None if errors else notices.get(request.query_params.get("done", ""))
    return {"values": values or {}, "errors": errors or {}, "flash": flash}


async def form_values(request: Request, fields: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    return {k: str(form.get(k, "")).strip() for k in fields}


def select_id(text: str) -> int | str | None:
    """A select's id: empty -> None, digits -> int; anything else stays text and fails the schema's strict id."""
    if not text:
        return None
    number = parse_id(text)
    return text if number is None else number


def optional(text: str) -> str | None:
    return text or None


def given(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields that were filled in: an empty required field is then reported as missing."""
    return {k: v for k, v in payload.items() if v is not None}


async def batch_form_choices(session: SessionDep) -> dict[str, Any]:
    """What the new-batch form offers: products, producers and their plots."""
    products = await catalog_service.admin_product_list(
        session, PageParams(page=1, size=MAX_CHOICES), q=None, status=None, category_id=None, sort=None
    )
    producers, _total = await trace_service.list_producers_with_plots(session, offset=0, limit=MAX_CHOICES)
    return {"products": products.items, "producers": producers}
