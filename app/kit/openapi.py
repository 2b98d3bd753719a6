"""Documented error responses: each operation lists the problems it can answer with, by code."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field

from app.errors import AppError


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable snake_case error code")


class ValidationProblem(Problem):
    errors: list[dict[str, Any]]


def problem_responses(*errors: type[AppError], validation: bool = True) -> dict[int | str, dict[str, Any]]:
    by_status: dict[int, list[type[AppError]]] = defaultdict(list)
    for error in errors:
        by_status[error.status_code].append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        codes = ", ".join(f"`{e.code}`" for e in group)
        responses[status] = {
            "model": Problem,
            "description": f"{group[0].title} ({codes})",
            "content": {
                "application/problem+json": {
                    "example": {
                        "type": f"https://daoxiang.example/problems/{group[0].code.replace('_', '-')}",
                        "title": group[0].title,
                        "status": status,
                        "detail": group[0].title + ".",
                        "code": group[0].code,
                    }
                }
            },
        }
    if validation:
        responses[422] = {"model": ValidationProblem, "description": "Validation error (`validation_error`)"}
    return responses
