"""Schemathesis against the app's own schema, in-process: every operation, valid and invalid data, as a
customer, as staff and anonymously. No 500s, and every answer matches docs/openapi.yaml.

Hypothesis runs in a worker thread and sends each case through httpx's ASGI transport on the test's event
loop, so the app uses the same database engine and Redis client as the rest of the suite.
`FUZZ_MAX_EXAMPLES` (default 8) bounds the examples per operation and mode.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import app
from app.users.models import Role
from tests.orders.factories import customer, sku_on_sale
from tests.users.factories import create_user, token_for

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
SCHEMA = schemathesis.openapi.from_dict(app.openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BASE_URL = "http://testserver"


def _file_part(part: Any) -> Any:
    # httpx wants str/bytes content; generated parts may hold other JSON values.
    if isinstance(part, tuple):
        filename, content, *rest = part
        if not isinstance(content, (str, bytes)):
            content = str(content)
        return (filename, content, *rest)
    return part if isinstance(part, (str, bytes)) else str(part)


def _request_kwargs(case: Any, token: str | None) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {k: v for k, v in dict(kwargs.get("headers") or {}).items() if v is not None}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": headers,
        "params": kwargs.get("params") or None,
        "cookies": kwargs.get("cookies") or None,
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    if "files" in kwargs and kwargs["files"] is not None:
        request["files"] = [(name, _file_part(part)) for name, part in kwargs["files"]]
        if isinstance(kwargs.get("data"), dict):
            request["data"] = kwargs["data"]
    elif isinstance(kwargs.get("data"), (bytes, str)):
        request["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        request["data"] = kwargs["data"]
    return request


@pytest.fixture
async def tokens() -> dict[str, str | None]:
    user, _address = await customer()
    await sku_on_sale()  # something to find, put in a cart and order
    staff = await create_user(role=Role.admin)
    return {"customer": token_for(user), "staff": token_for(staff), "anonymous": None}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
async def test_fuzz(operation, mode: GenerationMode, tokens: dict[str, str | None]):
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport) as client:

        async def send(request: dict[str, Any]) -> httpx.Response:
            response = await client.request(**request)
            await response.request.aread()  # multipart bodies are streamed; the checks read them again
            return response

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), who=st.sampled_from(sorted(tokens)))
        def check(case: Any, who: str) -> None:
            request = _request_kwargs(case, tokens[who])
            response = anyio.from_thread.run(send, request)
            checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
            case.validate_response(response, checks=checks, headers=request["headers"])

        try:
            await anyio.to_thread.run_sync(check)
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without input has nothing to make invalid
