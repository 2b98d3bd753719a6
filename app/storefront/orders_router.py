"""Cart, checkout and my orders as pages, on app.cart.service and app.orders.service (the same calls as
/api/cart and /api/orders). Every action is a POST form and answers with a redirect (post/redirect/get)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.cart import service as cart_service
from app.cart.errors import CartItemNotFound, SkuNotFound
from app.checkout import service as checkout_service
from app.config import get_settings
from app.coupons import service as coupons_service
from app.coupons.errors import CouponNotApplicable, CouponNotFound
from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import page_count
from app.kit.params import IdPath, IdQuery, form_idempotency_key, parse_id, parse_int, parse_page
from app.orders import service as orders_service
from app.orders.errors import (
    CartEmpty,
    IdempotencyKeyReused,
    InvalidOrderState,
    OutOfStock,
    QuantityLimitExceeded,
    RefundRequestLimitReached,
    RequestInProgress,
    SkuUnavailable,
    TooManyUnpaidOrders,
)
from app.orders.models import OrderStatus
from app.orders.schemas import OrderCreate
from app.payments import service as payments_service
from app.payments.errors import ChannelNotConfigured
from app.payments.models import Channel
from app.storefront.coupons_router import coupon_label
from app.storefront.dependencies import SignedInPageUser, load_cart_count
from app.storefront.forms import FormStr
from app.storefront.messages import CODE_MESSAGES
from app.storefront.templating import render
from app.users import service as users_service
from app.users.errors import AddressNeedsCorrection, AddressNotFound

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])

ORDERS_PER_PAGE = 10

NOTICES = {
    "added": "已加入购物车",
    "placed": "订单已提交，请尽快付款",
    "paid": "付款成功，我们会尽快发货",
    "cancelled": "订单已取消",
    "received": "已确认收货，感谢您的信任",
    "refund": "退款申请已提交，请等待商家处理",
}
ERRORS = {
    "state": "订单当前状态不允许这个操作，页面已刷新。",
    "reason": "请填写退款原因（1–200 字）。",
    "pay": "暂时无法发起付款，请稍后再试。",
    "refund_limit": "这个订单的退款申请次数已达上限，如需帮助请联系客服。",
}


def render_page(request: Request, template: str, context: dict, status_code: int = 200) -> Response:
    return render(request, template, context, status_code=status_code, csp=True)


def _quantity(value: str, default: int = 1) -> int | None:
    return parse_int(value.strip() or str(default), lo=1, hi=9999)


def timeline_text(entry: Any) -> str:
    """One line of an order's history, as the customer reads it."""
    to, by, reason = str(entry.to_status), entry.actor_role, entry.reason or ""
    if to == "pending_payment":
        return "订单已提交，等待付款"
    if to == "deposit_paid":
        return (
            "预售定金已付，等待尾款" if entry.from_status == "pending_payment" else "退款申请未通过，订单恢复"
        )
    if to == "paid" and entry.from_status == "deposit_paid":
        return "尾款已付，预售订单付清"
    if to == "paid":
        return "付款成功" if entry.from_status == "pending_payment" else "退款申请已撤回，订单恢复"
    if to == "shipped":
        return "商家已发货" if entry.from_status == "paid" else "退款申请未通过，订单恢复"
    if to == "completed":
        return "已确认收货，订单完成" if by == "customer" else "超时自动确认收货，订单完成"
    if to == "cancelled":
        if by == "system" and entry.from_status == "deposit_paid":
            return "尾款逾期未付，预售订单已取消"
        if by == "system":
            return "超时未付款，订单已自动取消"
        return "订单已取消" if by == "customer" else "订单已被商家取消"
    if to == "refunding":
        return f"申请退款：{reason}" if by == "customer" and reason else "退款处理中"
    if to == "refunded":
        return "退款完成，款项原路退回"
    return ORDER_STATUS_TEXT.get(to, to)


ORDER_STATUS_TEXT = {s.value: s.value for s in OrderStatus}


# ------------------------------------------------------------------------------------------------ cart


async def _cart_page(
    request: Request, session: SessionDep, user: Any, error: str | None = None, status_code: int = 200
) -> Response:
    cart = await cart_service.get_cart(session, user)
    request.state.cart_count = sum(i.quantity for i in cart.items)
    flash = NOTICES.get(request.query_params.get("done", ""))
    return render_page(
        request, "storefront/cart.html", {"cart": cart, "error": error, "flash": flash}, status_code
    )


@router.get("/cart", summary="My cart")
async def cart(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    return await _cart_page(request, session, user)


@router.post("/cart/items", summary="Add a SKU to my cart (from the product page)")
async def add_to_cart(
    request: Request,
    session: SessionDep,
    user: SignedInPageUser,
    sku_id: FormStr = "",
    quantity: FormStr = "1",
    then: FormStr = "cart",
) -> Response:
    qty = _quantity(quantity)
    sku = parse_id(sku_id)
    if sku is None or qty is None:
        return await _cart_page(request, session, user, "请选择规格并填写 1 以上的数量。", 422)
    current = next(
        (i.quantity for i in (await cart_service.get_cart(session, user)).items if i.sku_id == sku), 0
    )
    try:
        await cart_service.set_quantity(session, user, sku, current + qty)
    except SkuNotFound:
        return await _cart_page(request, session, user, "这个商品已下架或不存在。", 404)
    except OutOfStock:
        return await _cart_page(request, session, user, "这个规格已售罄。", 409)
    target = "/checkout" if then == "checkout" else "/cart?done=added"
    return RedirectResponse(target, status_code=303)


@router.post("/cart/items/{sku_id}", summary="Change a quantity in my cart")
async def update_cart_item(
    request: Request, sku_id: IdPath, session: SessionDep, user: SignedInPageUser, quantity: FormStr = ""
) -> Response:
    qty = _quantity(quantity)
    if qty is None:
        return await _cart_page(request, session, user, "数量需为 1 以上的整数。", 422)
    try:
        await cart_service.set_quantity(session, user, sku_id, qty)
    except SkuNotFound:
        return await _cart_page(request, session, user, "这个商品已下架或不存在。", 404)
    except OutOfStock:
        return await _cart_page(request, session, user, "这个规格已售罄。", 409)
    return RedirectResponse("/cart", status_code=303)


@router.post("/cart/items/{sku_id}/delete", summary="Remove a SKU from my cart")
async def remove_cart_item(sku_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    try:
        await cart_service.remove_item(session, user, sku_id)
    except CartItemNotFound:
        pass  # already gone: the cart shows what is left
    return RedirectResponse("/cart", status_code=303)


# ------------------------------------------------------------------------------------------------ checkout


async def _checkout_page(
    request: Request,
    session: SessionDep,
    user: Any,
    *,
    address_id: int | None = None,
    coupon_code: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    cart = await cart_service.get_cart(session, user)
    request.state.cart_count = sum(i.quantity for i in cart.items)
    if not any(i.available for i in cart.items):
        return RedirectResponse("/cart", status_code=303)
    addresses = list(await users_service.list_addresses(session, user))
    ids = [a.id for a in addresses if not a.needs_correction]
    selected = address_id if address_id in ids else (ids[0] if ids else None)  # the default is listed first
    # The customer's coupons for these lines, the best first and chosen unless they chose another.
    lines = [coupons_service.Line(i.sku_id, i.product_id, i.subtotal_fen) for i in cart.items if i.available]
    coupon_options = await coupons_service.options_for(session, user.id, lines)
    usable = {o.coupon.code: o for o in coupon_options if o.discount_fen > 0}
    if coupon_code is None:
        coupon_code = next(iter(usable), "")
    chosen = usable.get(coupon_code)
    return render_page(
        request,
        "storefront/checkout.html",
        {
            "cart": cart,
            "addresses": addresses,
            "selected_address_id": selected,
            "coupon_options": coupon_options,
            "selected_coupon": chosen.coupon.code if chosen else "",
            "discount_fen": chosen.discount_fen if chosen else 0,
            "coupon_label": coupon_label,
            "idempotency_key": secrets.token_urlsafe(24),
            "error": error,
        },
        status_code,
    )


@router.get("/checkout", summary="Checkout: choose an address and place the order")
async def checkout(
    request: Request, session: SessionDep, user: SignedInPageUser, address_id: IdQuery = None
) -> Response:
    return await _checkout_page(request, session, user, address_id=address_id)


@router.post("/checkout", summary="Place the order for my whole cart")
async def place_order(
    request: Request,
    session: SessionDep,
    user: SignedInPageUser,
    address_id: FormStr = "",
    note: FormStr = "",
    coupon_code: FormStr = "",
    idempotency_key: FormStr = "",
) -> Response:
    try:
        data = OrderCreate(address_id=parse_id(address_id) or 0, note=note, coupon_code=coupon_code or None)
    except ValidationError:
        return await _checkout_page(
            request, session, user, error="请选择收货地址（备注最多 200 字）。", status_code=422
        )
    key = form_idempotency_key(idempotency_key)
    user_id = user.id
    try:
        async with refusable(session):
            placed = await checkout_service.place_order(session, user, data, idempotency_key=key)
    except AppError as exc:
        # Nothing of the failed attempt stays; show the page again with the user loaded afresh.
        fresh = await users_service.get(session, user_id)
        return await _checkout_failed(request, session, fresh, exc, data.address_id)
    return RedirectResponse(f"/orders/{placed.order['id']}?done=placed", status_code=303)


async def _checkout_failed(
    request: Request, session: SessionDep, user: Any, exc: AppError, address_id: int
) -> Response:
    if isinstance(exc, AddressNotFound):
        return await _checkout_page(request, session, user, error="请选择收货地址。", status_code=422)
    if isinstance(exc, AddressNeedsCorrection):
        error = "这个地址的省份无法识别，请先编辑地址、从列表中重新选择省份。"
        return await _checkout_page(request, session, user, error=error, status_code=409)
    if isinstance(exc, TooManyUnpaidOrders):
        if exc.extra.get("sku_ids"):
            error = (
                f"同一商品待付款的数量最多 {exc.extra['limit']} 件，请先在“我的订单”中付款或取消待付款订单。"
            )
        else:
            error = f"您已有 {exc.extra['limit']} 个待付款订单，请先在“我的订单”中付款或取消后再下单。"
        return await _checkout_page(
            request, session, user, address_id=address_id, error=error, status_code=409
        )
    if isinstance(exc, (OutOfStock, SkuUnavailable)):
        error = "部分商品库存不足或已下架，请调整购物车后再提交。"
        return await _cart_page(request, session, user, error, 409)
    if isinstance(exc, QuantityLimitExceeded):
        return await _cart_page(request, session, user, "单个商品购买数量超过上限。", 422)
    if isinstance(exc, CartEmpty):
        return RedirectResponse("/cart", status_code=303)
    if isinstance(exc, RequestInProgress):
        error = "订单正在提交中，请稍候在“我的订单”查看。"
        return await _checkout_page(request, session, user, error=error, status_code=409)
    if isinstance(exc, (CouponNotFound, CouponNotApplicable)):
        error = CODE_MESSAGES[exc.code]
        return await _checkout_page(
            request, session, user, address_id=address_id, coupon_code="", error=error, status_code=422
        )
    if isinstance(exc, IdempotencyKeyReused):
        error = "订单内容有变化，请确认后重新提交。"
        return await _checkout_page(
            request, session, user, address_id=address_id, error=error, status_code=422
        )
    raise exc


# ------------------------------------------------------------------------------------------------ orders


@router.get("/orders", summary="My orders")
async def my_orders(
    request: Request, session: SessionDep, user: SignedInPageUser, status: str = "", page: str = "1"
) -> Response:
    page_no = parse_page(page)
    wanted = OrderStatus(status) if status in OrderStatus.__members__ else None
    orders, total = await orders_service.list_for_customer(
        session, user, wanted, (page_no - 1) * ORDERS_PER_PAGE, ORDERS_PER_PAGE
    )
    return render_page(
        request,
        "storefront/orders.html",
        {
            "orders": [orders_service.to_read(o) for o in orders],
            "status": wanted.value if wanted else "",
            "page": page_no,
            "pages": page_count(total, ORDERS_PER_PAGE),
            "has_notifications": True,
        },
    )


@router.get("/orders/{order_id}", summary="One of my orders, with its timeline")
async def order_detail(
    request: Request, order_id: IdPath, session: SessionDep, user: SignedInPageUser
) -> Response:
    order = orders_service.to_read(await orders_service.get_for_customer(session, user, order_id))
    refund_limit = get_settings().max_refund_requests_per_order
    return render_page(
        request,
        "storefront/order_detail.html",
        {
            "order": order,
            "refund_limit": refund_limit,
            "refund_requests_left": max(0, refund_limit - orders_service.refund_requests_made(order.history)),
            "timeline_text": timeline_text,
            "can_pay": True,
            "flash": NOTICES.get(request.query_params.get("done", "")),
            "error": ERRORS.get(request.query_params.get("error", "")),
        },
    )


async def _order_action(order_id: int, action: Any, done: str) -> Response:
    try:
        await action()
    except InvalidOrderState:
        return RedirectResponse(f"/orders/{order_id}?error=state", status_code=303)
    except RefundRequestLimitReached:
        return RedirectResponse(f"/orders/{order_id}?error=refund_limit", status_code=303)
    return RedirectResponse(f"/orders/{order_id}?done={done}", status_code=303)


@router.post("/orders/{order_id}/pay", summary="Pay my order (through the sandbox gateway's page)")
async def pay_order(order_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    try:
        payment = await payments_service.create_payment(session, user, order_id, Channel.sandbox)
    except InvalidOrderState:
        return RedirectResponse(f"/orders/{order_id}?error=state", status_code=303)
    except ChannelNotConfigured:
        return RedirectResponse(f"/orders/{order_id}?error=pay", status_code=303)
    return RedirectResponse(payment.pay_url, status_code=303)


@router.post("/orders/{order_id}/cancel", summary="Cancel my unpaid order")
async def cancel_order(order_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    return await _order_action(
        order_id, lambda: orders_service.cancel_by_customer(session, user, order_id), "cancelled"
    )


@router.post("/orders/{order_id}/confirm-receipt", summary="Confirm that my order arrived")
async def confirm_receipt(order_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    return await _order_action(
        order_id, lambda: orders_service.confirm_receipt(session, user, order_id), "received"
    )


@router.post("/orders/{order_id}/refund-request", summary="Ask for a refund")
async def refund_request(
    order_id: IdPath, session: SessionDep, user: SignedInPageUser, reason: FormStr = ""
) -> Response:
    from app.orders.schemas import RefundRequest

    try:
        data = RefundRequest(reason=reason)
    except ValidationError:
        await orders_service.get_for_customer(session, user, order_id)  # another's order stays a 404
        return RedirectResponse(f"/orders/{order_id}?error=reason", status_code=303)
    return await _order_action(
        order_id, lambda: orders_service.request_refund(session, user, order_id, data.reason), "refund"
    )
