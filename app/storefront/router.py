"""The customer's pages. Each one calls the same service functions as the API."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.storefront.dependencies import PageUser
from app.storefront.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


def page(request: Request, template: str, context: dict | None = None, status_code: int = 200) -> Response:
    return render(request, template, context or {}, status_code=status_code, csp=True)


@router.get("/", summary="Home page")
async def home(request: Request, user: PageUser) -> Response:
    return page(request, "storefront/home.html", {"products": [], "categories": []})


@router.get("/verify", summary="Trace-code lookup form target: go to the trace page of the code")
async def verify_code(code: str = "") -> Response:
    code = "".join(code.split())[:64]
    if not code:
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/trace/{quote(code, safe='')}", status_code=303)
