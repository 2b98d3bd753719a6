"""Back office: money a gateway took that the shop could not match to an order of its own (issue 16.4), on
app.payments.unmatched. Staff settle each by hand (refund in the gateway's merchant console, or make the
order up) and record what they did."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep
from app.kit.params import IdPath
from app.payments import unmatched as payments_unmatched
from app.storefront.dependencies import StaffPageUser, require_staff_page_user
from app.storefront.forms import page_number
from app.storefront.templating import ADMIN_SECTIONS, render

router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_staff_page_user)]
)

ADMIN_SECTIONS.append(("unmatched", "/admin/payments/unmatched", "待处理款项"))

PER_PAGE = 20


@router.get("/payments/unmatched", summary="Back office: money we could not match")
async def unmatched(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    resolved = request.query_params.get("show") == "resolved"
    page_no = page_number(request.query_params.get("page"))
    rows, total = await payments_unmatched.list_unmatched(
        session, resolved=resolved, offset=(page_no - 1) * PER_PAGE, limit=PER_PAGE
    )
    show = "resolved" if resolved else "open"
    return render(
        request,
        "admin/unmatched_payments.html",
        {
            "section": "unmatched",
            "rows": rows,
            "total": total,
            "resolved": resolved,
            "channels": payments_unmatched.CHANNEL_LABELS,
            "reasons": payments_unmatched.UNMATCHED_REASONS,
            "done": request.query_params.get("done") == "resolved",
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/admin/payments/unmatched?show={show}&page={n}",
        },
    )


@router.post("/payments/unmatched/{unmatched_id}/resolve", summary="Back office: record how it was settled")
async def resolve(
    unmatched_id: IdPath, session: SessionDep, staff: StaffPageUser, note: Annotated[str, Form()] = ""
) -> Response:
    await payments_unmatched.resolve_unmatched(session, staff, unmatched_id, note)
    return RedirectResponse("/admin/payments/unmatched?done=resolved", status_code=303)
