"""The ORM store (SQLite): SQLAlchemy statements in the request's session (app.checkout.stores)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.adoptions import repository as adoptions_repository
from app.cart import service as cart_service
from app.checkout.stores.base import (
    CheckoutAddress,
    CheckoutCoupon,
    CheckoutReads,
    CheckoutSku,
    _answer_text,
    _auth_state,
    _checkout_coupon,
)
from app.coupons import repository as coupons_repository
from app.db import utcnow
from app.events import OutboxEvent
from app.flash_sales import repository as flash_repository
from app.flash_sales.service import SaleState
from app.orders import repository
from app.presales import repository as presales_repository
from app.users import repository as users_repository

log = logging.getLogger("daoxiang.orders")


class OrmCheckoutStore:
    """SQLAlchemy statements in the request's session. `claim_id`: the Idempotency-Key's committed claim row
    (app.orders.idempotency.claim), whose answer is filled in here."""

    def __init__(self, session: AsyncSession, claim_id: int | None = None) -> None:
        self.session = session
        self.claim_id = claim_id

    async def cart_lines(self, user_id: int) -> dict[int, int]:
        return await cart_service.lines_for_checkout(self.session, user_id)

    async def read_for_checkout(self, user_id: int, address_id: int, sku_ids: Iterable[int]) -> CheckoutReads:
        customer = _auth_state(await users_repository.lock_and_auth_state(self.session, user_id))
        address = await users_repository.get_address(self.session, user_id, address_id)
        if address is None:
            return CheckoutReads(None, {}, 0, {}, customer)
        sku_ids = list(sku_ids)
        orders, units = await repository.unpaid_holdings(self.session, user_id, sku_ids)
        skus = {
            sku_id: CheckoutSku(*row)
            for sku_id, row in (await repository.sku_rows(self.session, sku_ids)).items()
        }
        found = CheckoutAddress(
            address.recipient,
            address.phone,
            address.province,
            address.city,
            address.district,
            address.detail,
            address.needs_correction,
        )
        return CheckoutReads(found, skus, orders, units, customer)

    async def insert_order_and_items(
        self, order: dict[str, Any], items: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        order_id = await repository.insert_order(self.session, order)
        rows = [{**item, "order_id": order_id} for item in items]
        return order_id, await repository.insert_items(self.session, rows)

    async def emit(self, row: dict[str, Any]) -> None:
        self.session.add(OutboxEvent(**row))
        await self.session.flush()

    async def record_answer(self, body: dict[str, Any]) -> None:
        if self.claim_id is not None:
            await repository.save_idempotent_response(self.session, self.claim_id, 201, _answer_text(body))

    async def remove_cart_lines(self, user_id: int, sku_ids: list[int]) -> None:
        await cart_service.remove_lines(self.session, user_id, sku_ids)

    async def find_coupon(self, user_id: int, code: str, sku_ids: Iterable[int]) -> CheckoutCoupon | None:
        row = await coupons_repository.claim_for_checkout(self.session, user_id, code)
        if row is None:
            return None
        eligible = (
            None
            if row.whole_shop
            else await coupons_repository.eligible_sku_ids(self.session, row.coupon_id, sku_ids)
        )
        return _checkout_coupon(code, tuple(row), eligible)

    async def use_coupon(self, claim_id: int, order_id: int) -> bool:
        return await coupons_repository.use_claim(self.session, claim_id, order_id, utcnow())

    async def take_stock(self, lines: list[tuple[int, int]]) -> list[int]:
        return [sku_id for sku_id, qty in lines if not await repository.take_stock(self.session, sku_id, qty)]

    async def check_key(self) -> None:
        """Nothing to do: this store's Idempotency-Key claim, committed before the pipeline ran, already
        answered a repeat with its saved answer and a request still running with 409."""

    async def read_flash_sale(self, user_id: int, sale_id: int) -> SaleState | None:
        await users_repository.lock(self.session, user_id)
        row = await flash_repository.sale_row(self.session, sale_id)
        if row is None:
            return None
        return SaleState(*row, await flash_repository.held_by(self.session, sale_id, user_id))

    async def take_from_flash_sale(self, sale_id: int, quantity: int, purchase: dict[str, Any]) -> bool:
        await flash_repository.insert_purchase(self.session, purchase)
        return await flash_repository.take(self.session, sale_id, quantity, utcnow())

    async def take_adoption_shares(self, plan_id: int, shares: int, adoption: dict[str, Any]) -> bool:
        await adoptions_repository.insert_adoption(self.session, adoption)
        return await adoptions_repository.take_shares(self.session, plan_id, shares, utcnow())

    async def take_from_presale(self, presale_id: int, quantity: int, share: dict[str, Any]) -> bool:
        await presales_repository.insert_share(self.session, share)
        return await presales_repository.take(self.session, presale_id, quantity, utcnow())
