"""The back office: shop staff (merchant, admin) only. Anonymous visitors are sent to /login, customers
get a 403 page. Every page calls the same staff service functions as /api/admin/."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from app.db import SessionDep
from app.storefront import dashboard as dashboard_data
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.templating import render

router = staff_pages_router()


def admin_page(
    request: Request, template: str, context: dict | None = None, status_code: int = 200
) -> Response:
    return render(request, template, context or {}, status_code=status_code, csp=True)


@router.get("/", summary="Back office dashboard")
async def dashboard(request: Request, session: SessionDep, user: StaffPageUser) -> Response:
    stats, panels = await dashboard_data.load(session)
    return admin_page(
        request, "admin/dashboard.html", {"section": "dashboard", "stats": stats, "panels": panels}
    )
