"""What the pages say (zh-CN) when the shop refuses something: the one catalogue from an error code
(`AppError.code`, the same code the API answers with) to a message for people.

`CODE_MESSAGES` is the sentence for an error page or the top of a form. `FIELD_MESSAGES` is for the codes a
back-office form can cause: the message goes next to the field it concerns ("所选商品不存在" under the product
picker rather than a page saying the product is gone). A code with no entry falls back to the page's
wording for its HTTP status. A page's own short keys in `?error=` (a form it redirected from) stay with the
page, like its `?done=` notices.
"""

from __future__ import annotations

CODE_MESSAGES: dict[str, str] = {
    # The shop
    "out_of_stock": "库存不足，请减少数量或选择其他规格。",
    "invalid_order_state": "订单当前状态不允许这个操作。",
    "product_not_found": "商品不存在或已下架。",
    "order_not_found": "订单不存在。",
    "address_not_found": "收货地址不存在。",
    "unknown_code": "没有找到这个溯源码，请核对后重试；若商品来源可疑，请联系客服。",
    "too_many_attempts": "尝试次数太多，请稍后再试。",
    "cart_empty": "购物车是空的。",
    "coupon_sold_out": "手慢了，这张券已被领完。",
    "coupon_limit_reached": "您已领取过这张券，达到每人限领数量。",
    "coupon_not_claimable": "这张券当前不可领取（未开始、已结束或已暂停）。",
    "coupon_batch_not_found": "优惠券不存在。",
    "coupon_not_found": "没有找到这张优惠券，请核对券码。",
    "coupon_not_applicable": "这张优惠券不适用于本订单（未满门槛、商品不在适用范围、已使用或已过期）。",
    "sold_out": "已抢光，下次早点来。",
    "invalid_subscription_state": "周期购当前状态不允许这个操作。",
    "subscription_not_found": "周期购不存在。",
    "flash_sale_limit_reached": "本场秒杀每人限购，您已达到限购数量。",
    "flash_sale_not_active": "秒杀尚未开始或已经结束。",
    "flash_sale_not_found": "秒杀活动不存在。",
    "flash_sale_closed": "这场秒杀已经结束。",
    "too_many_unpaid_orders": "您的待付款订单太多，请先付款或取消后再下单。",
    "database_unavailable": "系统正忙，暂时无法处理您的请求，请稍后再试。您的订单和账户信息不会丢失。",
    "storage_unavailable": "文件暂时无法保存，请稍后再试。",
    # The back office: products
    "unknown_category": "分类不存在。",
    "product_not_publishable": "商品至少要有一个启用的规格才能上架。",
    "price_above_original": "售价不能高于划线价。",
    "invalid_image": "只接受 JPEG、PNG 或 WebP 图片。",
    "image_too_large": "图片太大了（最大 5 MB）。",
}

FIELD_MESSAGES: dict[str, tuple[str, str]] = {
    "producer_name_taken": ("name", "已有同名的生产者。"),
    "batch_no_taken": ("batch_no", "这个批次号已经存在。"),
    "plot_not_found": ("plot", "所选地块不存在。"),
    "plot_of_another_producer": ("plot", "所选地块不属于这个生产者。"),
    "product_not_found": ("product_id", "所选商品不存在。"),
    "producer_not_found": ("producer_id", "所选生产者不存在。"),
    "batch_not_found": ("batch_id", "所选批次不存在。"),
}


def message_for(code: str | None) -> str | None:
    """The page's sentence for an error code, or None where the status's wording should do."""
    return CODE_MESSAGES.get(code or "")
