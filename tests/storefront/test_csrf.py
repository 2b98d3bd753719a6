from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.users.models import RefreshToken, User
from tests.storefront.pages import csrf_token, log_in
from tests.users.factories import create_user


async def count(model) -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


REGISTER = {"phone": "13800138000", "password": "a-long-password", "password_confirm": "a-long-password"}


class TestCsrf:
    async def test_post_without_a_token_is_refused_and_changes_nothing(self, client):
        await client.get("/register")  # the visitor has a CSRF cookie, but the form lacks the token
        response = await client.post("/register", data=REGISTER)
        assert response.status_code == 403 and "本次提交没有生效" in response.text
        assert await count(User) == 0

    @pytest.mark.parametrize("bad", ["", "0" * 64, "not-a-token"])
    async def test_post_with_a_wrong_token_is_refused(self, client, bad):
        await client.get("/register")
        response = await client.post("/register", data={**REGISTER, "csrf_token": bad})
        assert response.status_code == 403
        assert await count(User) == 0

    async def test_a_token_from_another_visitor_is_refused(self, client):
        token = await csrf_token(client, "/register")
        client.cookies.clear()
        await client.get("/register")  # a different cookie now
        response = await client.post("/register", data={**REGISTER, "csrf_token": token})
        assert response.status_code == 403
        assert await count(User) == 0

    async def test_token_without_cookie_is_refused(self, client):
        token = await csrf_token(client, "/register")
        client.cookies.clear()
        response = await client.post("/register", data={**REGISTER, "csrf_token": token})
        assert response.status_code == 403
        assert await count(User) == 0

    async def test_logout_without_token_keeps_the_session(self, client):
        await log_in(client, await create_user())
        response = await client.post("/logout")
        assert response.status_code == 403
        async with session_scope() as session:
            assert (await session.execute(select(RefreshToken.revoked_at))).scalar_one() is None
        assert "退出" in (await client.get("/")).text

    async def test_multipart_forms_are_checked_too(self, client):
        token = await csrf_token(client, "/register")
        ok = await client.post(
            "/register", files={"x": ("a.txt", b"hi")}, data={**REGISTER, "csrf_token": token}
        )
        assert ok.status_code == 303
        client.cookies.clear()
        await client.get("/register")
        refused = await client.post(
            "/register", files={"x": ("a.txt", b"hi")}, data={**REGISTER, "phone": "13800138001"}
        )
        assert refused.status_code == 403
        assert await count(User) == 1

    async def test_the_token_changes_at_login(self, client):
        before = await csrf_token(client, "/login")
        await log_in(client, await create_user())
        home = await client.get("/")
        assert before not in home.text
        response = await client.post("/logout", data={"csrf_token": before})
        assert response.status_code == 403

    async def test_the_api_is_not_affected(self, client):
        response = await client.post(
            "/api/users", json={"phone": "13800138000", "password": "a-long-password"}
        )
        assert response.status_code == 201
