"""The application's routes as the security tests enumerate them (FastAPI keeps included routers nested)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.routing import APIRoute

from app.main import app

_PARAM = re.compile(r"{([^}:]+)(:[^}]+)?}")


def api_routes(routes: list | None = None) -> Iterator[APIRoute]:
    for route in app.routes if routes is None else routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def is_page(route: APIRoute) -> bool:
    return not route.path.startswith("/api/")


def int_params(route: APIRoute) -> tuple[list[str], list[str]]:
    """(path params, query params) of the route that are whole numbers."""

    def is_int(param) -> bool:
        annotation = param.field_info.annotation
        return annotation is int or str(annotation) in ("int | None", "typing.Optional[int]")

    path = [p.name for p in route.dependant.path_params if is_int(p)]
    query = [p.alias for p in route.dependant.query_params if is_int(p)]
    return path, query


def fill(path: str, values: dict[str, str] | None = None, default: str = "1") -> str:
    values = values or {}
    return _PARAM.sub(lambda m: values.get(m.group(1), default), path)


def first_method(route: APIRoute) -> str:
    return sorted(route.methods - {"HEAD"})[0]
