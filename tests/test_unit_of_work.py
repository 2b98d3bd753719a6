"""The request owns its unit of work: app/db.py alone commits or rolls back; a page that shows a refusal
runs the refused call in `refusable`, which undoes that call only."""

from __future__ import annotations

import ast

import pytest
from sqlalchemy import select

from app.catalog.models import Category
from app.config import PROJECT_ROOT
from app.db import refusable, session_scope
from app.errors import Conflict

APP_DIR = PROJECT_ROOT / "app"

# The transactions that are not the request's, each its own unit of work by design: the lean store's own
# MariaDB connection (app.kit.leandb), the idempotency claim committed before the order's transaction
# (app.orders.idempotency, on a session_scope of its own), and checkout ending the request's read-only
# transaction (a rollback, never a commit) so the claim reuses its connection. A file that no longer ends
# a transaction must leave this list.
KNOWN = {
    "app/kit/leandb.py",
    "app/orders/idempotency.py",
    "app/checkout/service.py",
}


def _transaction_ends(path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback"}
    ]


class TestOneCommitSite:
    def test_only_app_db_commits_or_rolls_back(self):
        found = {
            str(path.relative_to(PROJECT_ROOT)): lines
            for path in sorted(APP_DIR.rglob("*.py"))
            if (lines := _transaction_ends(path))
        }
        found.pop("app/db.py", None)
        assert set(found) - KNOWN == set(), f"commit()/rollback() outside app/db.py: {found}"

    def test_the_known_exceptions_still_commit(self):
        gone = sorted(name for name in KNOWN if not _transaction_ends(PROJECT_ROOT / name))
        assert gone == [], f"these no longer commit: remove them from KNOWN: {gone}"


class Refused(Conflict):
    code = "refused_for_the_test"


async def _category_names() -> set[str]:
    async with session_scope() as session:
        return set((await session.scalars(select(Category.name))).all())


class TestRefusable:
    async def test_a_refusal_undoes_the_refused_call_and_keeps_the_rest(self):
        async with session_scope() as session:
            session.add(Category(name="早先写的"))
            await session.flush()
            with pytest.raises(Refused):
                async with refusable(session):
                    session.add(Category(name="被拒绝的"))
                    await session.flush()
                    raise Refused("no")
            session.add(Category(name="之后写的"))
        assert await _category_names() == {"早先写的", "之后写的"}

    async def test_a_call_that_is_not_refused_is_kept(self):
        async with session_scope() as session:
            async with refusable(session):
                session.add(Category(name="通过的"))
                await session.flush()
        assert await _category_names() == {"通过的"}

    async def test_a_call_that_ended_the_transaction_itself_is_rolled_back_whole(self):
        async with session_scope() as session:
            with pytest.raises(Refused):
                async with refusable(session):
                    session.add(Category(name="自己提交的"))
                    await session.commit()  # as checkout's idempotency claim does today
                    session.add(Category(name="提交之后的"))
                    await session.flush()
                    raise Refused("no")
        assert await _category_names() == {"自己提交的"}
