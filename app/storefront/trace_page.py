"""`/trace/{code}`: the page a phone opens after scanning a bag's QR code (zh-CN)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse

from app.config import get_settings
from app.storefront.labels import CERTIFICATE_LABELS, EVENT_LABELS
from app.storefront.templating import render
from app.traceability import codes as codebook
from app.traceability import scans
from app.traceability import verification as trace_verification
from app.traceability.errors import TooManyUnknownCodes, UnknownCode
from app.users.dependencies import ClientIP

router = APIRouter(include_in_schema=False)

COOKIE_MAX_AGE = 2 * 365 * 86400


def _cookie_name(code: str) -> str:
    # Codes may end in a check symbol such as '=' or '$', which cookie names cannot hold.
    return "dx_scan_" + hashlib.sha256(code.encode()).hexdigest()[:16]


@router.get("/trace/{code}", response_class=HTMLResponse)
async def trace_page(
    code: str,
    request: Request,
    ip: ClientIP,
    user_agent: Annotated[str, Header()] = "",
) -> HTMLResponse:
    device = scans.scanner_from_cookie(request.cookies.get(scans.DEVICE_COOKIE))
    try:
        outcome = await trace_verification.scan(code, client_ip=ip, user_agent=user_agent, device=device)
    except UnknownCode:
        return render(request, "trace/unknown.html", {"code": code[:40]}, status_code=404, csp=True)
    except TooManyUnknownCodes as exc:
        return render(
            request,
            "trace/unknown.html",
            {"code": code[:40], "throttled": True},
            status_code=429,
            headers=exc.headers,
            csp=True,
        )
    result = outcome.result()
    cookie = _cookie_name(result.code)
    # The first scan was somebody else's when the code had been scanned before and this browser never did.
    not_first_reader = not outcome.first_scan and cookie not in request.cookies
    response = render(
        request,
        "trace/code.html",
        {
            "r": result,
            "printed_code": codebook.pretty(result.code),
            "not_first_reader": not_first_reader,
            "event_labels": EVENT_LABELS,
            "certificate_labels": CERTIFICATE_LABELS,
            "threshold": get_settings().trace_suspicious_scanners,
        },
        headers={"Cache-Control": "no-store"},
        csp=True,
    )
    if outcome.first_scan:
        response.set_cookie(cookie, "1", max_age=COOKIE_MAX_AGE, path="/trace", httponly=True, samesite="lax")
    if device is None:
        # This device is, from now on, the scanner this scan was counted as (see app.traceability.scans).
        response.set_cookie(
            scans.DEVICE_COOKIE,
            scans.device_cookie(outcome.scanner),
            max_age=scans.DEVICE_COOKIE_MAX_AGE,
            path="/trace",
            httponly=True,
            samesite="lax",
        )
    return response
