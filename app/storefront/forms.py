"""Form input checked with the API's own schemas; pydantic errors become short Chinese messages."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

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
}

FIELD_HINTS = {
    "phone": "请输入 11 位中国大陆手机号",
    "password": "密码长度为 8–128 个字符",
}


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    messages: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if not isinstance(part, int)]
        field = loc[0] if loc else "__all__"
        if field in messages:
            continue
        label = FIELD_LABELS.get(field, field)
        if err.get("type") == "missing" or (err.get("type") == "string_too_short" and not err.get("input")):
            messages[field] = f"请填写{label}"
        else:
            messages[field] = FIELD_HINTS.get(field, f"{label}格式不正确")
    return messages


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, errors_by_field(exc)
