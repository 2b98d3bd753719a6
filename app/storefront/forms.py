"""Form input checked with the API's own schemas; pydantic errors become short Chinese messages."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Form
from pydantic import BaseModel, ValidationError

from app.kit.params import parse_page

M = TypeVar("M", bound=BaseModel)
# A text field of a submitted form (absent: "")
FormStr = Annotated[str, Form()]

FIELD_LABELS = {
    "phone": "手机号",
    "password": "密码",
    "nickname": "昵称",
    "recipient": "收货人",
    "province": "省份",
    "city": "城市",
    "district": "区县",
    "detail": "详细地址",
    "quantity": "数量",
    "reason": "原因",
    "old_password": "当前密码",
    "new_password": "新密码",
}

FIELD_HINTS = {
    "phone": "请输入 11 位中国大陆手机号",
    "password": "密码长度为 8–128 个字符",
    "province": "请从列表中选择省份",
    "new_password": "密码长度为 8–128 个字符",
}


def errors_by_field(
    exc: ValidationError,
    *,
    labels: dict[str, str] = FIELD_LABELS,
    hints: dict[str, str] = FIELD_HINTS,
    choices: frozenset[str] = frozenset(),
    whole: str | None = None,
    stop: str = "",
) -> dict[str, str]:
    """One message per field. `choices` are picked from a list ("请选择…"). With `whole`, an error of no field
    in `labels` (a cross-field rule) is that message under "__all__". `stop` ends the made-up messages."""
    messages: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if not isinstance(part, int)]
        field = loc[0] if loc else "__all__"
        if whole is not None and field not in labels:
            field = "__all__"
        if field in messages:
            continue
        label = labels.get(field, field)
        if whole is not None and field == "__all__":
            messages[field] = whole
        elif err.get("type") == "missing" or (err.get("type") == "string_too_short" and not err.get("input")):
            messages[field] = f"请{'选择' if field in choices else '填写'}{label}{stop}"
        else:
            messages[field] = hints.get(field, f"{label}格式不正确{stop}")
    return messages


def page_number(raw: str | None) -> int:
    """A list page's ?page=: a positive whole number, at most 10 000; anything else is page 1."""
    return parse_page(raw)


def parse(
    model: type[M], data: dict[str, Any], *, choices: frozenset[str] = frozenset()
) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, errors_by_field(exc, choices=choices)
