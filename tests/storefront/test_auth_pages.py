from __future__ import annotations

from sqlalchemy import func, select

from app.db import session_scope
from app.users.models import RefreshToken, User
from tests.storefront.pages import csrf_from, csrf_token, is_html, log_in
from tests.users.factories import DEFAULT_PASSWORD, create_user


async def count_users() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


class TestRegisterPage:
    async def test_registers_and_logs_in(self, client):
        token = await csrf_token(client, "/register")
        response = await client.post(
            "/register",
            data={
                "phone": "13800138000",
                "nickname": "小稻",
                "password": "a-long-password",
                "password_confirm": "a-long-password",
                "next": "/products",
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/products"
        home = await client.get("/")
        assert "退出" in home.text and "我的订单" in home.text
        async with session_scope() as session:
            user = (await session.execute(select(User))).scalar_one()
        assert user.phone == "13800138000" and user.role == "customer" and user.nickname == "小稻"

    async def test_bad_phone_and_mismatched_password_are_shown_in_chinese(self, client):
        token = await csrf_token(client, "/register")
        response = await client.post(
            "/register",
            data={"phone": "12345", "password": "a-long-password", "password_confirm": "other-password"},
            headers={"X-CSRF-Token": token},
        )
        assert response.status_code == 422 and is_html(response)
        assert "请输入 11 位中国大陆手机号" in response.text
        assert 'aria-invalid="true"' in response.text
        assert await count_users() == 0

    async def test_short_password_is_refused(self, client):
        token = await csrf_token(client, "/register")
        response = await client.post(
            "/register",
            data={
                "phone": "13800138000",
                "password": "short",
                "password_confirm": "short",
                "csrf_token": token,
            },
        )
        assert response.status_code == 422 and "密码长度为 8–128 个字符" in response.text
        assert await count_users() == 0

    async def test_taken_phone_suggests_logging_in(self, client):
        user = await create_user()
        token = await csrf_token(client, "/register")
        response = await client.post(
            "/register",
            data={
                "phone": user.phone,
                "password": "a-long-password",
                "password_confirm": "a-long-password",
                "csrf_token": token,
            },
        )
        assert response.status_code == 409 and "已经注册过了" in response.text
        assert await count_users() == 1
        assert "dx_session" not in client.cookies


class TestLoginPage:
    async def test_logs_in_and_goes_to_next(self, client):
        user = await create_user(nickname="老王")
        token = await csrf_token(client, "/login?next=/orders")
        response = await client.post(
            "/login",
            data={"phone": user.phone, "password": DEFAULT_PASSWORD, "next": "/orders", "csrf_token": token},
        )
        assert response.status_code == 303 and response.headers["location"] == "/orders"

    async def test_wrong_password_says_so_without_telling_which(self, client):
        user = await create_user()
        token = await csrf_token(client)
        response = await client.post(
            "/login", data={"phone": user.phone, "password": "wrong-password", "csrf_token": token}
        )
        assert response.status_code == 422 and "手机号或密码错误" in response.text
        unknown = await client.post(
            "/login", data={"phone": "13999999999", "password": "wrong-password", "csrf_token": token}
        )
        assert unknown.status_code == 422 and "手机号或密码错误" in unknown.text
        assert "dx_session" not in client.cookies

    async def test_next_cannot_leave_the_site(self, client):
        user = await create_user()
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            client.cookies.clear()
            token = await csrf_token(client)
            response = await client.post(
                "/login",
                data={"phone": user.phone, "password": DEFAULT_PASSWORD, "next": evil, "csrf_token": token},
            )
            assert response.status_code == 303 and response.headers["location"] == "/"

    async def test_too_many_failures_are_throttled_like_the_api(self, client):
        user = await create_user()
        token = await csrf_token(client)
        for _ in range(5):
            await client.post(
                "/login", data={"phone": user.phone, "password": "wrong-pw", "csrf_token": token}
            )
        response = await client.post(
            "/login", data={"phone": user.phone, "password": DEFAULT_PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 429 and "登录失败次数太多" in response.text
        assert "dx_session" not in client.cookies

    async def test_login_page_redirects_a_signed_in_user(self, client):
        await log_in(client, await create_user())
        response = await client.get("/login?next=/cart")
        assert response.status_code == 303 and response.headers["location"] == "/cart"


class TestSessionCookie:
    async def test_cookies_are_httponly_and_samesite_lax(self, client):
        user = await create_user()
        token = await csrf_token(client)
        response = await client.post(
            "/login", data={"phone": user.phone, "password": DEFAULT_PASSWORD, "csrf_token": token}
        )
        cookies = response.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("dx_session="))
        csrf_cookie = next(c for c in cookies if c.startswith("dx_csrf="))
        for cookie in (session_cookie, csrf_cookie):
            flags = cookie.lower()
            assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        # The browser never sees an access token (a JWT) in a cookie or a page.
        assert not any(c.split("=", 1)[1].startswith("eyJ") for c in cookies)
        home = await client.get("/")
        assert "eyJ" not in home.text and "localStorage" not in home.text

    async def test_secure_flag_when_served_over_https(self, client):
        user = await create_user()
        client.base_url = "https://testserver"
        token = await csrf_token(client)
        response = await client.post(
            "/login", data={"phone": user.phone, "password": DEFAULT_PASSWORD, "csrf_token": token}
        )
        session_cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("dx_session=")
        )
        assert "secure" in session_cookie.lower()

    async def test_a_forged_session_cookie_is_anonymous(self, client):
        client.cookies.set("dx_session", "made-up-value")
        response = await client.get("/")
        assert response.status_code == 200 and "登录" in response.text and "退出" not in response.text

    async def test_logout_revokes_the_session_server_side(self, client):
        await log_in(client, await create_user())
        stolen = client.cookies["dx_session"]
        home = await client.get("/")
        response = await client.post("/logout", data={"csrf_token": csrf_from(home.text)})
        assert response.status_code == 303
        async with session_scope() as session:
            revoked = (await session.execute(select(RefreshToken.revoked_at))).scalar_one()
        assert revoked is not None
        # Someone who copied the cookie before logout is not signed in either.
        client.cookies.clear()
        client.cookies.set("dx_session", stolen)
        assert "退出" not in (await client.get("/")).text
        assert (await client.get("/admin/")).status_code == 303


class TestErrorPages:
    async def test_unknown_page_is_a_chinese_404_page(self, client):
        response = await client.get("/no-such-page")
        assert response.status_code == 404 and is_html(response)
        assert "页面不存在" in response.text and '<html lang="zh-CN">' in response.text

    async def test_api_errors_stay_problem_json(self, client):
        response = await client.get("/api/no-such-thing")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_pages_send_protective_headers(self, client):
        response = await client.get("/login")
        assert response.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_verify_form_goes_to_the_trace_page(self, client):
        response = await client.get("/verify", params={"code": " AB12 CD34 "})
        assert response.status_code == 303 and response.headers["location"] == "/trace/AB12CD34"
