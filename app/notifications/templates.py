"""Which events become customer notifications, and what they say: the one table to edit.

A template's `body` may name fields of the event's `data` (`{order_no}`); `{total_fen:yuan}` prints fen as
¥59.90. When the data lacks a field the template names, the `fallback` body is used instead, so a new
optional field never breaks a notification. Events whose data has no `user_id` notify nobody.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from app.kit.money import format_yuan


@dataclass(frozen=True)
class Template:
    title: str
    body: str
    fallback: str
    link: str | None = None


TEMPLATES: dict[str, Template] = {
    "user.registered": Template(
        title="欢迎来到稻香",
        body="注册成功！五常稻花香新米已上架，祝您购物愉快。",
        fallback="注册成功，祝您购物愉快。",
        link="/products",
    ),
    "order.created": Template(
        title="订单已创建",
        body="订单 {order_no} 已创建，应付 {total_fen:yuan}，请尽快完成支付。",
        fallback="您的订单已创建，请尽快完成支付。",
        link="/orders/{order_id}",
    ),
    "order.paid": Template(
        title="订单已支付",
        body="订单 {order_no} 已支付 {amount_fen:yuan}，我们会尽快为您发货。",
        fallback="您的订单已支付，我们会尽快为您发货。",
        link="/orders/{order_id}",
    ),
    "order.deposit_paid": Template(
        title="预售定金已支付",
        body="订单 {order_no} 已支付定金 {amount_fen:yuan}，尾款 {balance_due_fen:yuan} 将在新米开镰后开放支付，届时我们会通知您。",
        fallback="您的预售定金已支付，尾款开放支付时我们会通知您。",
        link="/presales/mine",
    ),
    "presale.balance_due": Template(
        title="预售尾款开始支付",
        body="订单 {order_no} 的尾款 {amount_due_fen:yuan} 现已开放支付，请在截止前完成付款，逾期订单将被取消。",
        fallback="您的预售订单尾款现已开放支付，请尽快完成付款。",
        link="/presales/mine",
    ),
    "order.cancelled": Template(
        title="订单已取消",
        body="订单 {order_no} 已取消。",
        fallback="您的订单已取消。",
        link="/orders/{order_id}",
    ),
    "order.shipped": Template(
        title="订单已发货",
        body="订单 {order_no} 已由{carrier}发出，运单号 {tracking_no}。",
        fallback="您的订单已发货，请留意查收。",
        link="/orders/{order_id}",
    ),
    "custom_request.quoted": Template(
        title="定制礼盒已报价",
        body="{company} 的定制需求 #{request_id} 已报价，合计 {total_fen:yuan}，请在有效期内确认。",
        fallback="您的定制需求已报价，请在有效期内确认。",
        link="/custom-requests",
    ),
    "custom_request.proof_ready": Template(
        title="定制礼盒设计稿待确认",
        body="定制需求 #{request_id} 的设计稿已上传，请查看并确认。",
        fallback="您的定制礼盒设计稿已上传，请查看并确认。",
        link="/custom-requests",
    ),
    "custom_request.in_production": Template(
        title="定制礼盒已开始制作",
        body="定制需求 #{request_id} 的设计稿已确认，礼盒开始制作。",
        fallback="您的定制礼盒已开始制作。",
        link="/custom-requests",
    ),
    "order.completed": Template(
        title="订单已完成",
        body="订单 {order_no} 已确认收货，感谢您选购稻香好米。",
        fallback="您的订单已完成，感谢您的购买。",
        link="/orders/{order_id}",
    ),
    "order.refund_requested": Template(
        title="退款申请已提交",
        body="订单 {order_no} 的退款申请已提交，我们会尽快处理。",
        fallback="您的退款申请已提交，我们会尽快处理。",
        link="/orders/{order_id}",
    ),
    "order.refunded": Template(
        title="退款已完成",
        body="订单 {order_no} 已退款 {amount_fen:yuan}，款项将原路退回。",
        fallback="您的订单已退款，款项将原路退回。",
        link="/orders/{order_id}",
    ),
    "order.refund_rejected": Template(
        title="退款申请未通过",
        body="订单 {order_no} 的退款申请未通过：{reason}",
        fallback="您的退款申请未通过，如有疑问请联系客服。",
        link="/orders/{order_id}",
    ),
    "subscription.activated": Template(
        title="周期购已开始",
        body="您的周期购已生效，共 {periods} 期，首期将于 {first_delivery_on} 发出。",
        fallback="您的周期购已生效，首期将尽快发出。",
        link="/account/subscriptions",
    ),
    "subscription.delivered": Template(
        title="周期购本期已备货",
        body="周期购第 {period}/{periods} 期已生成配送订单 {order_no}，我们会尽快为您发货。",
        fallback="周期购本期已生成配送订单，我们会尽快为您发货。",
        link="/orders/{order_id}",
    ),
    "subscription.waiting_for_stock": Template(
        title="周期购本期等待补货",
        body="周期购第 {period} 期暂时缺货，补货后将第一时间为您发出，不会跳过。",
        fallback="周期购本期暂时缺货，补货后将第一时间为您发出。",
        link="/account/subscriptions",
    ),
    "subscription.cancelled": Template(
        title="周期购已取消",
        body="周期购已取消，已发 {delivered_periods}/{periods} 期，未发部分退款 {refund_fen:yuan} 将原路退回。",
        fallback="您的周期购已取消。",
        link="/account/subscriptions",
    ),
}


@dataclass(frozen=True)
class Rendered:
    user_id: int
    title: str
    body: str
    link: str | None


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "yuan":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("yuan needs integer fen")
            return format_yuan(value)
        return super().format_field(value, format_spec)


_formatter = _Formatter()


def _fill(template: str | None, data: dict[str, Any]) -> str | None:
    if template is None:
        return None
    try:
        return _formatter.vformat(template, (), data)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return None


def render(event_type: str, data: Any) -> Rendered | None:
    """The notification an event gives its customer, or None (not a customer event, or no user id)."""
    template = TEMPLATES.get(event_type)
    if template is None or not isinstance(data, dict):
        return None
    user_id = data.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id < 1:
        return None
    body = _fill(template.body, data) or template.fallback
    link = _fill(template.link, data) if template.link else None
    return Rendered(user_id=user_id, title=template.title, body=body[:500], link=link)
