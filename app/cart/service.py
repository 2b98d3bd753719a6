"""The cart: one per customer, always read live (prices, stock, whether the product is still on sale)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from app.cart import repository
from app.cart.errors import CartItemNotFound, OutOfStock, SkuNotFound
from app.cart.schemas import CartItemRead, CartRead
from app.catalog.models import ProductStatus
from app.config import get_settings
from app.users.models import User


async def get_cart(session: AsyncSession, user: User) -> CartRead:
    limit = get_settings().order_max_quantity_per_sku
    items: list[CartItemRead] = []
    for row in await repository.lines_with_skus(session, user.id):
        on_sale = row.is_active and row.product_status == ProductStatus.published.value
        max_quantity = min(row.stock, limit) if on_sale else 0
        available = max_quantity > 0
        quantity = min(row.quantity, max_quantity) if available else row.quantity
        items.append(
            CartItemRead(
                sku_id=row.sku_id,
                product_id=row.product_id,
                name=f"{row.product_name} {row.sku_name}",
                sku_name=row.sku_name,
                quantity=quantity,
                unit_price_fen=row.price_fen,
                subtotal_fen=row.price_fen * quantity if available else 0,
                stock=row.stock,
                max_quantity=max_quantity,
                available=available,
            )
        )
    return CartRead(items=items, total_fen=sum(i.subtotal_fen for i in items))


async def set_quantity(session: AsyncSession, user: User, sku_id: int, quantity: int) -> CartRead:
    """Put a SKU in the cart with this quantity, capped at the stock and the per-order limit."""
    sku = await repository.sku_with_product(session, sku_id)
    if sku is None or not sku.is_active or sku.product_status != ProductStatus.published.value:
        raise SkuNotFound("No such item on sale.")
    if sku.stock <= 0:
        raise OutOfStock("This item is sold out.", sku_ids=[sku_id])
    capped = min(quantity, sku.stock, get_settings().order_max_quantity_per_sku)
    await repository.set_quantity(session, user.id, sku_id, capped)
    return await get_cart(session, user)


async def remove_item(session: AsyncSession, user: User, sku_id: int) -> CartRead:
    if not await repository.remove(session, user.id, [sku_id]):
        raise CartItemNotFound("This item is not in the cart.")
    return await get_cart(session, user)


# For checkout (orders domain).


async def lines_for_checkout(session: AsyncSession, user_id: int) -> dict[int, int]:
    """{sku_id: quantity} of the whole cart, capped as `get_cart` shows it (a sold-out line keeps its
    quantity, so that checkout reports it as out of stock rather than dropping it)."""
    rows = await repository.lines_with_skus(session, user_id)
    return checkout_quantities((row.sku_id, row.quantity, row.stock) for row in rows)


def checkout_quantities(rows: Iterable[tuple[int, int, int]]) -> dict[int, int]:
    """{sku_id: quantity} from (sku_id, quantity in the cart, stock) rows, capped as `get_cart` shows them."""
    limit = get_settings().order_max_quantity_per_sku
    return {
        sku_id: min(quantity, limit, stock) if stock > 0 else quantity for sku_id, quantity, stock in rows
    }


async def remove_lines(session: AsyncSession, user_id: int, sku_ids: list[int]) -> None:
    await repository.remove(session, user_id, sku_ids)
