from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import jwt
import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.db import session_scope
from app.users import security, throttle
from app.users.models import Address, RefreshToken, Role, User
from tests.problems import assert_problem
from tests.users.factories import DEFAULT_PASSWORD, auth, create_user, login, next_phone


async def count_users() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


class TestRegister:
    async def test_creates_customer_without_exposing_the_hash(self, client):
        response = await client.post(
            "/api/users", json={"phone": "13800138000", "password": "a-long-password", "nickname": "小米"}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "phone", "nickname", "role", "created_at"}
        assert body["phone"] == "13800138000" and body["role"] == "customer" and body["nickname"] == "小米"
        assert body["created_at"].endswith(("Z", "+00:00"))
        async with session_scope() as session:
            user = await session.get(User, body["id"])
            assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    async def test_duplicate_phone_is_409(self, client):
        user = await create_user()
        response = await client.post("/api/users", json={"phone": user.phone, "password": "a-long-password"})
        assert_problem(response, 409, "phone_taken")
        assert await count_users() == 1

    @pytest.mark.parametrize(
        "body",
        [
            {"phone": "13800138000", "password": "short"},
            {"phone": "1380013800", "password": "a-long-password"},
            {"phone": "23800138000", "password": "a-long-password"},
            {"phone": "1380013800a", "password": "a-long-password"},
            {"phone": 13800138000, "password": "a-long-password"},
            {"phone": "13800138000", "password": "x" * 129},
            {"phone": "13800138000", "password": "a-long-password", "role": "admin"},
            {"phone": "13800138000"},
        ],
    )
    async def test_bad_input_is_422_and_creates_nothing(self, client, body):
        body_ = assert_problem(await client.post("/api/users", json=body), 422, "validation_error")
        assert body_["errors"] and all("field" in e for e in body_["errors"])
        assert await count_users() == 0

    async def test_client_cannot_make_itself_admin(self, client):
        response = await client.post(
            "/api/users", json={"phone": "13800138000", "password": "a-long-password", "role": "admin"}
        )
        body = assert_problem(response, 422, "validation_error")
        assert any(e["field"].endswith("role") for e in body["errors"])

    async def test_malformed_json_is_422(self, client):
        response = await client.post(
            "/api/users", content=b'{"phone": "138', headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "validation_error")

    async def test_registrations_are_limited_per_network(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "register_max_per_network", 2)
        for _ in range(2):
            r = await client.post("/api/users", json={"phone": next_phone(), "password": "a-long-password"})
            assert r.status_code == 201
        response = await client.post(
            "/api/users", json={"phone": next_phone(), "password": "a-long-password"}
        )
        assert_problem(response, 429, "too_many_attempts")
        assert int(response.headers["retry-after"]) >= 1
        assert await count_users() == 2


class TestLogin:
    async def test_returns_a_token_pair_that_works(self, client):
        user = await create_user()
        response = await login(client, user.phone)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
        me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200 and me.json()["id"] == user.id

    async def test_wrong_password_and_unknown_phone_answer_the_same(self, client):
        user = await create_user()
        wrong = assert_problem(await login(client, user.phone, "wrong-password"), 401, "invalid_credentials")
        unknown = assert_problem(await login(client, "13999999999"), 401, "invalid_credentials")
        assert wrong["detail"] == unknown["detail"]

    async def test_oauth2_form_login(self, client):
        user = await create_user()
        response = await client.post(
            "/api/auth/token", data={"username": user.phone, "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 200 and response.json()["access_token"]

    async def test_sixth_failure_in_a_row_waits_even_with_the_right_password(self, client):
        user = await create_user()
        for _ in range(5):
            assert (await login(client, user.phone, "wrong-password")).status_code == 401
        response = await login(client, user.phone)
        assert_problem(response, 429, "too_many_attempts")
        assert 1 <= int(response.headers["retry-after"]) <= 5

    async def test_concurrent_guesses_cannot_slip_past_the_limit(self, client):
        user = await create_user()
        responses = await asyncio.gather(*(login(client, user.phone, "wrong-password") for _ in range(12)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [401] * 5 + [429] * 7

    async def test_the_wait_is_over_after_retry_after(self, client, monkeypatch):
        now = [time.time()]
        monkeypatch.setattr(throttle, "clock", lambda: now[0])
        user = await create_user()
        for _ in range(5):
            await login(client, user.phone, "wrong-password")
        refused = await login(client, user.phone)
        assert refused.status_code == 429
        now[0] += int(refused.headers["retry-after"])
        assert (await login(client, user.phone)).status_code == 200

    async def test_inactive_user_cannot_log_in(self, client):
        user = await create_user(is_active=False)
        assert_problem(await login(client, user.phone), 401, "invalid_credentials")


class TestAccessToken:
    async def test_missing_token_is_401(self, client):
        response = await client.get("/api/users/me")
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize(
        "change", ["forged", "expired", "audience", "issuer", "alg_none", "garbage", "refresh"]
    )
    async def test_bad_tokens_are_401(self, client, change):
        user = await create_user()
        s = get_settings()
        now = int(time.time())
        claims = {
            "sub": str(user.id),
            "role": "customer",
            "iss": s.jwt_issuer,
            "aud": s.jwt_audience,
            "iat": now,
            "exp": now + 600,
            "typ": "access",
        }
        key = s.secret_key
        if change == "forged":
            key = "another-secret-key-another-secret-key"
        elif change == "expired":
            claims["exp"] = now - 1
        elif change == "audience":
            claims["aud"] = "someone-else"
        elif change == "issuer":
            claims["iss"] = "someone-else"
        elif change == "refresh":
            claims["typ"] = "refresh"
        if change == "alg_none":
            token = jwt.encode(claims, None, algorithm="none")
        elif change == "garbage":
            token = "not.a.jwt"
        else:
            token = jwt.encode(claims, key, algorithm="HS256")
        response = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "not_authenticated")

    async def test_a_token_that_worked_stops_working_when_it_expires(self, client, monkeypatch):
        # Verified tokens are remembered (app.users.security); their expiry must still be checked on each use.
        user = await create_user()
        headers = auth(user)
        assert (await client.get("/api/users/me", headers=headers)).status_code == 200
        lifetime = get_settings().access_token_minutes * 60
        later = time.time() + lifetime + 1
        monkeypatch.setattr(security, "time", SimpleNamespace(time=lambda: later))

        assert_problem(await client.get("/api/users/me", headers=headers), 401, "not_authenticated")


class TestRefresh:
    async def test_rotates_and_the_old_token_stops_working(self, client):
        user = await create_user()
        first = (await login(client, user.phone)).json()
        second = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        assert second.json()["refresh_token"] != first["refresh_token"]
        again = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert_problem(again, 401, "invalid_refresh_token")

    async def test_reuse_of_a_rotated_token_revokes_the_whole_family(self, client):
        user = await create_user()
        first = (await login(client, user.phone)).json()
        second = (
            await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        ).json()
        # An attacker replays the stolen first token...
        assert (
            await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        ).status_code == 401
        # ...and the legitimate holder's newer token is dead too.
        response = await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert_problem(response, 401, "invalid_refresh_token")

    async def test_only_the_hash_is_stored(self, client):
        user = await create_user()
        pair = (await login(client, user.phone)).json()
        async with session_scope() as session:
            stored = (await session.execute(select(RefreshToken.token_hash))).scalars().all()
        assert pair["refresh_token"] not in stored and len(stored) == 1 and len(stored[0]) == 64

    async def test_logout_revokes(self, client):
        user = await create_user()
        pair = (await login(client, user.phone)).json()
        assert (
            await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
        ).status_code == 204
        response = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert_problem(response, 401, "invalid_refresh_token")

    async def test_unknown_token_is_401(self, client):
        assert_problem(
            await client.post("/api/auth/refresh", json={"refresh_token": "nope"}),
            401,
            "invalid_refresh_token",
        )


ADDRESS = {
    "recipient": "王五",
    "phone": "13700001111",
    "province": "黑龙江省",
    "city": "哈尔滨市",
    "district": "五常市",
    "detail": "龙凤山镇 8 号",
}


class TestAddresses:
    async def test_first_address_is_default_and_exactly_one_default_remains(self, client):
        user = await create_user()
        h = auth(user)
        a = (await client.post("/api/users/me/addresses", json=ADDRESS, headers=h)).json()
        assert a["is_default"] is True
        b = (
            await client.post("/api/users/me/addresses", json={**ADDRESS, "is_default": True}, headers=h)
        ).json()
        listed = (await client.get("/api/users/me/addresses", headers=h)).json()
        assert [x["id"] for x in listed if x["is_default"]] == [b["id"]]
        r = await client.patch(f"/api/users/me/addresses/{a['id']}", json={"is_default": True}, headers=h)
        assert r.status_code == 200 and r.json()["is_default"]
        listed = (await client.get("/api/users/me/addresses", headers=h)).json()
        assert [x["id"] for x in listed if x["is_default"]] == [a["id"]]
        assert (await client.delete(f"/api/users/me/addresses/{a['id']}", headers=h)).status_code == 204
        listed = (await client.get("/api/users/me/addresses", headers=h)).json()
        assert [x["id"] for x in listed if x["is_default"]] == [b["id"]]

    async def test_another_customers_address_is_404_everywhere(self, client):
        owner, other = await create_user(), await create_user()
        a = (await client.post("/api/users/me/addresses", json=ADDRESS, headers=auth(owner))).json()
        h = auth(other)
        assert_problem(
            await client.patch(f"/api/users/me/addresses/{a['id']}", json={"city": "北京"}, headers=h),
            404,
            "address_not_found",
        )
        assert_problem(
            await client.delete(f"/api/users/me/addresses/{a['id']}", headers=h), 404, "address_not_found"
        )
        assert (await client.get("/api/users/me/addresses", headers=h)).json() == []
        async with session_scope() as session:
            assert (await session.get(Address, a["id"])).city == "哈尔滨市"

    @pytest.mark.parametrize(
        "patch",
        [{"recipient": None}, {"phone": "123"}, {"is_default": False}, {"user_id": 99}, {"detail": ""}],
    )
    async def test_bad_updates_change_nothing(self, client, patch):
        user = await create_user()
        a = (await client.post("/api/users/me/addresses", json=ADDRESS, headers=auth(user))).json()
        r = await client.patch(f"/api/users/me/addresses/{a['id']}", json=patch, headers=auth(user))
        assert_problem(r, 422, "validation_error")
        listed = (await client.get("/api/users/me/addresses", headers=auth(user))).json()
        assert listed[0] | {"created_at": None} == a | {"created_at": None}

    async def test_ids_out_of_range_are_422_not_500(self, client):
        user = await create_user()
        r = await client.delete("/api/users/me/addresses/99999999999999999999999", headers=auth(user))
        assert_problem(r, 422, "validation_error")


class TestStaffOnly:
    async def test_staff_dependency_refuses_customers(self, client):
        # The users domain has no staff route of its own; the dependency is exercised on every admin
        # route by the other domains' tests. Here: the role stored on the account decides, not the token.
        user = await create_user(role=Role.customer)
        assert (await client.get("/api/users/me", headers=auth(user))).json()["role"] == "customer"
