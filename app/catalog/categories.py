"""Categories: the tree (cached for the public), and staff writes (audited, invalidating)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.catalog import cache, live, repository
from app.catalog.cache import invalidate
from app.catalog.errors import CategoryCycle, CategoryInUse, CategoryNotFound, UnknownCategory
from app.catalog.models import Category
from app.catalog.schemas import CategoryCreate, CategoryUpdate
from app.db import session_scope


def descendants(categories: Iterable[Category], root_id: int) -> list[int]:
    """root_id and every category below it."""
    children: dict[int | None, list[int]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category.id)
    found, stack = [], [root_id]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.append(current)
        stack.extend(children.get(current, []))
    return found


async def categories_json() -> bytes:
    async def build() -> bytes:
        async with session_scope() as session:
            rows = await repository.list_categories(session)
            return orjson.dumps([{"id": c.id, "name": c.name, "parent_id": c.parent_id} for c in rows])

    return await cache.cached(await live.version(), "categories", build)


async def list_categories(session: AsyncSession) -> Sequence[Category]:
    return await repository.list_categories(session)


async def get_category_or_raise(session: AsyncSession, category_id: int) -> Category:
    category = await repository.get_category(session, category_id)
    if category is None:
        raise CategoryNotFound("No such category.")
    return category


async def _check_parent(session: AsyncSession, category_id: int | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    if await repository.get_category(session, parent_id) is None:
        raise UnknownCategory(f"There is no category {parent_id}.")
    if category_id is not None and parent_id in descendants(
        await repository.list_categories(session), category_id
    ):
        raise CategoryCycle("A category cannot be moved below itself.")


def _category_snapshot(category: Category) -> dict[str, Any]:
    return {"name": category.name, "parent_id": category.parent_id, "sort_order": category.sort_order}


async def create_category(session: AsyncSession, actor: Any, data: CategoryCreate) -> Category:
    await _check_parent(session, None, data.parent_id)
    category = Category(name=data.name, parent_id=data.parent_id, sort_order=data.sort_order)
    session.add(category)
    await session.flush()
    await audit.record(
        session,
        actor,
        "category.create",
        "category",
        category.id,
        audit.diff({}, _category_snapshot(category)),
    )
    invalidate(session)
    return category


async def update_category(
    session: AsyncSession, actor: Any, category_id: int, data: CategoryUpdate
) -> Category:
    category = await get_category_or_raise(session, category_id)
    before = _category_snapshot(category)
    changes = data.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        await _check_parent(session, category.id, changes["parent_id"])
    for field, value in changes.items():
        setattr(category, field, value)
    await session.flush()
    changed = audit.diff(before, _category_snapshot(category))
    if changed:
        await audit.record(session, actor, "category.update", "category", category.id, changed)
        invalidate(session)
    return category


async def delete_category(session: AsyncSession, actor: Any, category_id: int) -> None:
    category = await get_category_or_raise(session, category_id)
    if await repository.category_has_children(session, category_id):
        raise CategoryInUse("Move or delete its subcategories first.")
    if await repository.category_has_products(session, category_id):
        raise CategoryInUse("Products still belong to this category.")
    before = _category_snapshot(category)
    await session.delete(category)
    await session.flush()
    await audit.record(session, actor, "category.delete", "category", category_id, audit.diff(before, {}))
    invalidate(session)
