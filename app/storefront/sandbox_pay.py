"""The sandbox gateway's page: what Alipay's cashier is for the other channel, played by us. Only the buyer
(the signed-in owner of the order) sees it or presses its buttons; to anyone else it does not exist."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep
from app.errors import AppError
from app.kit.params import IdPath
from app.payments import service as payments_service
from app.payments.errors import PaymentNotFound
from app.storefront.dependencies import PageUser
from app.storefront.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/pay/sandbox/{payment_id}")
async def sandbox_page(payment_id: IdPath, request: Request, session: SessionDep, user: PageUser) -> Response:
    payment, order = await payments_service.sandbox_payment(session, payment_id, user.id if user else None)
    return render(request, "payments/sandbox.html", {"payment": payment, "order": order}, csp=True)


@router.post("/pay/sandbox/{payment_id}")
async def sandbox_press(
    payment_id: IdPath,
    request: Request,
    user: PageUser,
    result: Annotated[Literal["success", "failed"], Form()],
) -> Response:
    # The notification is logged and applied in transactions of its own (the request's session only read
    # who is signed in).
    try:
        order_id = await payments_service.sandbox_press(payment_id, result, user.id if user else None)
    except PaymentNotFound:
        raise  # the same 404 page as a payment that does not exist
    except AppError as exc:
        return render(
            request,
            "payments/sandbox.html",
            {"payment": None, "order": None, "error": exc.detail},
            status_code=exc.status_code,
            csp=True,
        )
    return RedirectResponse(f"/orders/{order_id}", status_code=303)
