"""`GET /api/trace/{code}` answered without FastAPI's routing and dependency machinery.

A QR campaign or a viral post is this request, many times a second. Like the catalogue's fast reads
(app.catalog.fast_reads), this middleware recognises exactly that request and calls what the route calls, with
the same inputs: the client address from `client_address_of` (what `client_ip`, the one function every limit
uses, asks), the User-Agent header, then `verification.scan`; errors are rendered by the same problem+json renderer. So the answer is the
same bytes the route sends (tests/traceability/test_fast_scan.py compares them). A request with a path it is
not sure about goes on to the application.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import AppError
from app.kit import metrics
from app.kit.client import client_address_of
from app.kit.problems import app_error_response
from app.traceability import codes as codebook
from app.traceability import verification

_PATH = re.compile(rf"/api/trace/([^/]{{1,{codebook.MAX_INPUT_LENGTH}}})")
_JSON = b"application/json"


class TraceScanFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        if match is None or match.group(1) in ("event-photos", "certificates"):
            await self.app(scope, receive, send)
            return
        metrics.name_route(scope, "/api/trace/{code}")
        try:
            outcome = await verification.scan(
                match.group(1), client_ip=client_address_of(scope), user_agent=_user_agent(scope)
            )
        except AppError as exc:
            await app_error_response(exc)(scope, receive, send)
            return
        body = outcome.json()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _user_agent(scope: Scope) -> str:
    """The first User-Agent header, as Starlette's `request.headers.get` reads it."""
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return value.decode("latin-1")
    return ""
