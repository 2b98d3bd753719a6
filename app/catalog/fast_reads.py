"""The storefront's three hottest reads, answered without FastAPI's routing and dependency machinery.

`GET /api/products`, `GET /api/products/{id}` and `GET /api/categories` are most of a shop's traffic, and with
the pages cached (app.catalog.cache) most of their cost was the framework: matching the path against every
route of the app and solving the parameters. This ASGI middleware recognises exactly those requests, validates
their parameters with the same model as the routes, and calls the same service functions, so the body is the
same bytes the route would send.

Anything it is not sure about goes on to the application, which answers exactly as it always does: a parameter
it does not know, a repeated or empty one, a value the model refuses, a product that is not found, any error.
The routes stay the documented interface (OpenAPI) and the only place where errors are made.
tests/catalog/test_fast_reads.py proves both paths give the same answers.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.catalog import categories, reads
from app.catalog.errors import ProductNotFound
from app.catalog.schemas import ProductListQuery
from app.kit import metrics
from app.kit.faults import infrastructure_fault
from app.kit.params import MAX_ID

log = logging.getLogger(__name__)

_DETAIL_PATH = re.compile(r"/api/products/([0-9]{1,19})")
_LIST_FIELDS = frozenset(ProductListQuery.model_fields)
_JSON = b"application/json"
_TEMPLATES = {"/api/products": "/api/products", "/api/categories": "/api/categories"}


class CatalogFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            try:
                body = await self._answer(scope["path"], scope["query_string"])
            except ProductNotFound:
                body = None
            except Exception as exc:  # noqa: BLE001 - the application answers, with its own error handling
                if infrastructure_fault(exc) is not None:
                    raise  # the database is unreachable: the route would fail alike (app.kit.faults)
                log.warning("fast catalogue read failed; the application answers", exc_info=True)
                body = None
            if body is not None:
                metrics.name_route(scope, _TEMPLATES.get(scope["path"], "/api/products/{product_id}"))
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, path: str, query_string: bytes) -> bytes | None:
        if path == "/api/products":
            query = _list_query(query_string)
            return None if query is None else await reads.public_product_list_json(query)
        if path == "/api/categories":
            return await categories.categories_json()
        match = _DETAIL_PATH.fullmatch(path)
        if match:
            product_id = int(match.group(1))
            if 1 <= product_id <= MAX_ID:
                return await reads.product_detail_json(product_id)
        return None


def _list_query(query_string: bytes) -> ProductListQuery | None:
    """The validated parameters, or None when the route should judge them (as Starlette parses them)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if query_string else []
    values = dict(pairs)
    if len(values) != len(pairs) or not _LIST_FIELDS.issuperset(values) or "" in values.values():
        return None
    try:
        return ProductListQuery.model_validate(values)
    except ValidationError:
        return None
