"""Documented error responses: each operation lists the problems it can answer with, by code."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from app.errors import AppError, DatabaseUnavailable


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable snake_case error code")


class ValidationProblem(Problem):
    errors: list[dict[str, Any]]


VALIDATION_EXAMPLE = {
    "type": "https://daoxiang.example/problems/validation-error",
    "title": "Validation error",
    "status": 422,
    "detail": "The request is not valid; see errors.",
    "code": "validation_error",
    "errors": [
        {
            "field": "body.phone",
            "loc": ["body", "phone"],
            "message": "String should match pattern",
            "type": "x",
        }
    ],
}


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
    if validation and 422 in responses:
        # Domain 422s (cart_empty, …) and validation errors share the status: document both codes.
        responses[422]["description"] = (
            "Validation error (`validation_error`) or " + responses[422]["description"]
        )
    elif validation:
        responses[422] = {
            "model": ValidationProblem,
            "description": "Validation error (`validation_error`)",
            "content": {"application/problem+json": {"example": VALIDATION_EXAMPLE}},
        }
    return responses


DATABASE_UNAVAILABLE_RESPONSE: dict[str, Any] = {
    "description": "Database unavailable (`database_unavailable`) or a write conflict (`write_conflict`): nothing was written; retry after `Retry-After` seconds",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    "content": {
        "application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": {
                "type": "https://daoxiang.example/problems/database-unavailable",
                "title": DatabaseUnavailable.title,
                "status": 503,
                "detail": "The shop cannot reach its database right now; try again shortly.",
                "code": DatabaseUnavailable.code,
            },
        }
    },
}


def _document_database_unavailable(operation: dict[str, Any]) -> None:
    """Every operation may meet a database outage (app.kit.faults): document its 503, unless the operation
    documents its own (health)."""
    responses = operation.get("responses")
    if isinstance(responses, dict) and "503" not in responses:
        responses["503"] = copy.deepcopy(DATABASE_UNAVAILABLE_RESPONSE)


def tidy_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the documented errors match what is sent: problem+json only, validation errors in our shape.

    FastAPI documents a response `model` under application/json and its own HTTPValidationError for 422;
    we answer every error as application/problem+json (app.kit.problems)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ValidationProblem" not in components:
        for model in (Problem, ValidationProblem):
            components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    validation_ref = {"$ref": "#/components/schemas/ValidationProblem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            _document_database_unavailable(operation)
            for status, response in operation.get("responses", {}).items():
                if status[:1] not in ("4", "5"):
                    continue
                content = response.get("content")
                if not content:
                    continue
                json_body = content.pop("application/json", None)
                problem = content.setdefault("application/problem+json", {})
                if json_body and "schema" in json_body and "schema" not in problem:
                    problem["schema"] = json_body["schema"]
                if status == "422" and problem.get("schema", {}).get("$ref", "").endswith(
                    "/HTTPValidationError"
                ):
                    problem["schema"] = validation_ref
                    problem["example"] = VALIDATION_EXAMPLE
                    response["description"] = "Validation error (`validation_error`)"
    still_used = str(schema.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in still_used:
            components.pop(name, None)
    return schema


def operation_id(route: APIRoute) -> str:
    """A stable camelCase operationId from the endpoint function's name (`place_order` → `placeOrder`), for
    every route, present and future (FastAPI's `generate_unique_id_function`). Generated clients name their
    functions after it, so renaming an endpoint function is an API change; a route whose function name is
    too generic (`create`) or taken says `operation_id=` itself. tests/test_openapi.py checks they are unique."""
    head, *rest = route.endpoint.__name__.strip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)
