"""Accounts under attack (issue 13, items 6's token `sub`, 9 and 10, and the "also noticed" account holes):

- passwords are taken exactly as typed everywhere they are set or typed, and weak ones are refused at every
  place a password is set;
- an access token with a `sub` or `ver` that is not a canonical number is a 401, never a 500, on every kind
  of authenticated route (the ORM path, the principal path, checkout's fast path, a staff route);
- logging out, logging out everywhere, a password change, disabling and a role change end the old access
  tokens at once, on every path, cache or not;
- user management is admin-only and cannot leave the shop without an active admin.

Login and registration throttling is in tests/security/test_login_throttle.py.
"""

from __future__ import annotations

import asyncio
import random
import string
import time

import pytest
from sqlalchemy import func, select

from app.audit import AuditLog
from app.config import get_settings
from app.db import session_scope
from app.events import OutboxEvent
from app.users import passwords, revocation, service
from app.users.errors import WeakPassword
from app.users.models import Role, User
from tests.conftest import HAS_REDIS
from tests.orders.factories import count_orders, customer, sku_on_sale
from tests.problems import assert_problem
from tests.storefront.pages import csrf_token, log_in
from tests.users.factories import DEFAULT_PASSWORD, auth, create_user, login, next_phone


async def count_users() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


async def reload(user_id: int) -> User:
    async with session_scope() as session:
        return await session.get(User, user_id)


# ------------------------------------------------------------------------------------------------ passwords

# Spaces and other blanks around or inside a password are part of it.
AS_TYPED = [
    "Pass-word-2026 ",
    " Pass-word-2026",
    "  rice paddy 2026  ",
    "\tTab-led-password-9",
    "Trailing-newline-7\n",
    "nbsp\u00a0rice\u00a0field-2026",
    "全角空格\u3000稻花香二号-2026",
    "zero\u200bwidth-joiner-2026",
]

COMMON = [
    "password",
    "12345678",
    "123456789",
    "qwertyuiop",
    "iloveyou",
    "P@ssw0rd",
    "Password1",
    "password123",
    "1qaz2wsx",
    "abc12345",
    "aaaaaaaa",
    "88888888",
    "11111111",
    "qwerty123",
    "admin123",
    "daoxiang2026",
]


def with_phone(phone: str) -> list[str]:
    return [phone, phone + "!", "x" + phone + "y", phone + phone[::-1], f"My phone is {phone}.", phone * 2]


class TestPasswordsAreTakenAsTyped:
    @pytest.mark.parametrize("password", AS_TYPED)
    async def test_registers_and_logs_in_only_exactly_as_typed(self, client, password):
        phone = next_phone()
        created = await client.post("/api/users", json={"phone": phone, "password": password})
        assert created.status_code == 201, created.text
        assert (await login(client, phone, password)).status_code == 200
        form = await client.post("/api/auth/token", data={"username": phone, "password": password})
        assert form.status_code == 200, form.text
        if password.strip() != password:
            assert_problem(await login(client, phone, password.strip()), 401, "invalid_credentials")

    @pytest.mark.parametrize("password", AS_TYPED[:4])
    async def test_the_login_page_and_the_password_change_take_it_as_typed(self, client, password):
        user = await create_user()
        h = auth(user)
        changed = await client.post(
            "/api/users/me/password",
            json={"old_password": DEFAULT_PASSWORD, "new_password": password},
            headers=h,
        )
        assert changed.status_code == 200, changed.text
        token = await csrf_token(client, "/login")
        page = await client.post(
            "/login", data={"phone": user.phone, "password": password, "csrf_token": token, "next": "/"}
        )
        assert page.status_code == 303, page.text

    @pytest.mark.parametrize("password", ["x" * 129, "秘" * 129])
    async def test_the_oauth2_form_refuses_overlong_passwords_instead_of_cutting_them(self, client, password):
        user = await create_user()
        response = await client.post("/api/auth/token", data={"username": user.phone, "password": password})
        assert_problem(response, 422, "validation_error")


class TestWeakPasswordsAreRefused:
    @pytest.mark.parametrize("password", COMMON)
    async def test_common_passwords_cannot_register(self, client, password):
        response = await client.post("/api/users", json={"phone": next_phone(), "password": password})
        body = assert_problem(response, 422, "weak_password")
        assert body["errors"][0]["field"] == "password"
        assert await count_users() == 0

    async def test_a_password_containing_the_phone_cannot_register(self, client):
        phone = next_phone()
        for password in with_phone(phone):
            response = await client.post("/api/users", json={"phone": phone, "password": password})
            assert_problem(response, 422, "weak_password")
        assert await count_users() == 0

    @pytest.mark.parametrize("password", COMMON[:6] + ["PHONE", "PHONE!"])
    async def test_nor_be_chosen_as_a_new_password(self, client, password):
        user = await create_user()
        password = password.replace("PHONE", user.phone)
        response = await client.post(
            "/api/users/me/password",
            json={"old_password": DEFAULT_PASSWORD, "new_password": password},
            headers=auth(user),
        )
        assert_problem(response, 422, "weak_password")
        assert (await login(client, user.phone)).status_code == 200  # the old password still works

    @pytest.mark.parametrize("password", COMMON[:4] + ["PHONE"])
    async def test_nor_on_the_registration_page(self, client, password):
        phone = next_phone()
        password = password.replace("PHONE", phone)
        token = await csrf_token(client, "/register")
        response = await client.post(
            "/register",
            data={"phone": phone, "password": password, "password_confirm": password, "csrf_token": token},
        )
        assert response.status_code == 422
        assert "密码" in response.text and 'aria-invalid="true"' in response.text
        assert await count_users() == 0

    @pytest.mark.parametrize("password", COMMON[:4] + ["PHONE"])
    async def test_nor_for_staff_made_from_the_command_line(self, password):
        phone = next_phone()
        password = password.replace("PHONE", phone)
        assert passwords.problem(password, phone=phone) is not None  # what `daoxiang create-admin` checks
        with pytest.raises(WeakPassword):
            async with session_scope() as session:
                await service.create_admin(session, phone, password, Role.admin)
        assert await count_users() == 0

    @pytest.mark.parametrize(
        "password",
        ["demo-pass-2026", "admin-pass-2026", "correct-horse-2026", "a-long-password", "Pass-word-2026 "],
    )
    async def test_the_demo_and_test_passwords_are_strong_enough(self, client, password):
        response = await client.post("/api/users", json={"phone": next_phone(), "password": password})
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize("length", [41, 80, 128])
    async def test_long_passwords_are_estimated_quickly(self, client, length):
        # zxcvbn alone takes over a second on 128 random characters; estimated in chunks it must not.
        rng = random.Random(length)
        password = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))
        started = time.perf_counter()
        assert passwords.problem(password, phone="13800138000") is None
        assert time.perf_counter() - started < 0.5
        assert passwords.problem("password" * (length // 8), phone="13800138000") is not None


# ------------------------------------------------------------------------------------------------ token sub

MALFORMED_SUBS = [
    "²",
    "٣",
    "１",
    "0",
    "-1",
    "+1",
    "01",
    " 1",
    "1 ",
    "1.0",
    "1e3",
    "0x10",
    "",
    "abc",
    str(2**63),
    "9" * 19 + "9",
    "9" * 5000,
    1,
    None,
    True,
    [1],
    {"id": 1},
]


def forged_token(sub, **overrides) -> str:
    s = get_settings()
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": "admin",
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "iat": now,
        "exp": now + 600,
        "typ": "access",
        "ver": 0,
    }
    claims.update(overrides)
    # PyJWT refuses to *encode* some of these; sign the raw claims to get exactly what an attacker sends.
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(s.secret_key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


class TestMalformedTokenClaims:
    @pytest.mark.parametrize("sub", MALFORMED_SUBS, ids=repr)
    async def test_sub_that_is_not_a_canonical_id_is_401_everywhere(self, client, sub):
        await create_user(role=Role.admin)  # id 1 exists: a lenient parser would log the attacker in
        h = {"Authorization": f"Bearer {forged_token(sub)}"}
        assert_problem(await client.get("/api/users/me", headers=h), 401, "not_authenticated")
        assert_problem(await client.get("/api/admin/users", headers=h), 401, "not_authenticated")
        checkout = await client.post(
            "/api/orders", json={"address_id": 1, "items": [{"sku_id": 1, "quantity": 1}]}, headers=h
        )
        assert_problem(checkout, 401, "not_authenticated")

    @pytest.mark.parametrize("ver", ["0", -1, 1.0, True, None, [0], 2**63], ids=repr)
    async def test_a_version_that_is_not_a_whole_number_is_401(self, client, ver):
        user = await create_user()
        h = {"Authorization": f"Bearer {forged_token(str(user.id), ver=ver)}"}
        assert_problem(await client.get("/api/users/me", headers=h), 401, "not_authenticated")

    async def test_a_canonical_sub_of_a_real_user_still_works(self, client):
        user = await create_user()
        h = {"Authorization": f"Bearer {forged_token(str(user.id), role='customer')}"}
        assert (await client.get("/api/users/me", headers=h)).json()["id"] == user.id


# ------------------------------------------------------------------------------------------------ revocation


async def _log_in_pair(client, user: User) -> dict:
    response = await login(client, user.phone)
    assert response.status_code == 200, response.text
    return response.json()


async def _revoke(client, how: str, victim: User, pair: dict) -> None:
    h = {"Authorization": f"Bearer {pair['access_token']}"}
    if how == "logout":
        r = await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    elif how == "logout_all":
        r = await client.post("/api/auth/logout-all", headers=h)
    elif how == "password_change":
        r = await client.post(
            "/api/users/me/password",
            json={"old_password": DEFAULT_PASSWORD, "new_password": "a-brand-new-rice-2027"},
            headers=h,
        )
    else:
        admin = await create_user(role=Role.admin)
        body = {"is_active": False} if how == "disable" else {"role": "merchant"}
        r = await client.patch(f"/api/admin/users/{victim.id}", json=body, headers=auth(admin))
    assert r.status_code in (200, 204), r.text


REVOKING = ["logout", "logout_all", "password_change", "disable", "role_change"]


class TestRevokedAccessTokensStopAtOnce:
    @pytest.mark.parametrize("how", REVOKING)
    async def test_on_the_routes_that_load_the_user(self, client, how):
        user = await create_user()
        pair = await _log_in_pair(client, user)
        other_device = await _log_in_pair(client, user)
        h = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await client.get("/api/users/me", headers=h)).status_code == 200
        await _revoke(client, how, user, pair)
        assert_problem(await client.get("/api/users/me", headers=h), 401, "not_authenticated")
        other = {"Authorization": f"Bearer {other_device['access_token']}"}
        assert_problem(await client.get("/api/users/me", headers=other), 401, "not_authenticated")

    @pytest.mark.parametrize("how", REVOKING)
    async def test_on_checkout_and_its_fast_path_even_with_the_state_cached(self, client, how):
        user, address = await customer()
        sku = await sku_on_sale()
        pair = await _log_in_pair(client, user)
        h = {"Authorization": f"Bearer {pair['access_token']}"}
        body = {"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]}
        assert (await client.post("/api/orders", json=body, headers=h)).status_code == 201  # state now cached
        await _revoke(client, how, user, pair)
        assert_problem(await client.post("/api/orders", json=body, headers=h), 401, "not_authenticated")
        assert await count_orders() == 1

    @pytest.mark.parametrize("how", ["logout_all", "password_change"])
    async def test_every_refresh_token_dies_too_and_a_new_login_works(self, client, how):
        user = await create_user()
        pair = await _log_in_pair(client, user)
        await _revoke(client, how, user, pair)
        refreshed = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert_problem(refreshed, 401, "invalid_refresh_token")
        password = "a-brand-new-rice-2027" if how == "password_change" else DEFAULT_PASSWORD
        fresh = (await login(client, user.phone, password)).json()
        me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
        assert me.status_code == 200

    async def test_the_password_change_answers_a_pair_that_works(self, client):
        user = await create_user()
        pair = await _log_in_pair(client, user)
        response = await client.post(
            "/api/users/me/password",
            json={"old_password": DEFAULT_PASSWORD, "new_password": "a-brand-new-rice-2027"},
            headers={"Authorization": f"Bearer {pair['access_token']}"},
        )
        new = response.json()
        assert (await client.get("/api/users/me", headers=auth_header(new))).status_code == 200
        assert_problem(await login(client, user.phone), 401, "invalid_credentials")

    @pytest.mark.parametrize("old", ["wrong-password", "", DEFAULT_PASSWORD + " ", " " + DEFAULT_PASSWORD])
    async def test_a_wrong_current_password_changes_nothing(self, client, old):
        user = await create_user()
        response = await client.post(
            "/api/users/me/password",
            json={"old_password": old, "new_password": "a-brand-new-rice-2027"},
            headers=auth(user),
        )
        assert response.status_code == 422
        assert response.json()["code"] in {"wrong_password", "validation_error"}
        assert (await client.get("/api/users/me", headers=auth(user))).status_code == 200
        assert (await login(client, user.phone)).status_code == 200

    @pytest.mark.skipif(not HAS_REDIS, reason="the shared cache is Redis")
    async def test_an_older_state_never_replaces_a_newer_one_in_the_cache(self):
        user = await create_user()
        newer = revocation.AuthState(role="customer", token_version=3, is_active=False)
        older = revocation.AuthState(role="customer", token_version=2, is_active=True)
        await revocation._store(user.id, newer)
        await revocation._store(user.id, older)  # a reader that loaded the row before the change
        async with session_scope() as session:
            assert await revocation.state(session, user.id) == newer


def auth_header(pair: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


# ------------------------------------------------------------------------------------------------ admin users


async def _caller(kind: str) -> dict[str, str]:
    if kind == "anonymous":
        return {}
    if kind == "disabled_admin":
        return auth(await create_user(role=Role.admin, is_active=False))
    return auth(await create_user(role=Role(kind)))


class TestUserManagementIsAdminOnly:
    @pytest.mark.parametrize(
        ("kind", "status", "code"),
        [
            ("anonymous", 401, "not_authenticated"),
            ("disabled_admin", 401, "not_authenticated"),
            ("customer", 403, "forbidden"),
            ("merchant", 403, "forbidden"),
        ],
    )
    @pytest.mark.parametrize(
        ("method", "body"),
        [("GET", None), ("PATCH", {"role": "admin"}), ("PATCH", {"is_active": False}), ("PATCH", {})],
    )
    async def test_others_are_refused_and_nothing_changes(self, client, kind, status, code, method, body):
        target = await create_user()
        h = await _caller(kind)
        if method == "GET":
            response = await client.get("/api/admin/users", headers=h)
        else:
            response = await client.patch(f"/api/admin/users/{target.id}", json=body, headers=h)
        assert_problem(response, status, code)
        after = await reload(target.id)
        assert (after.role, after.is_active, after.token_version) == ("customer", True, 0)

    @pytest.mark.parametrize("role", ["merchant", "customer"])
    async def test_staff_cannot_promote_themselves(self, client, role):
        user = await create_user(role=Role(role))
        r = await client.patch(f"/api/admin/users/{user.id}", json={"role": "admin"}, headers=auth(user))
        assert_problem(r, 403, "forbidden")
        assert (await reload(user.id)).role == role


BAD_PATCHES = [
    {"role": "superuser"},
    {"role": "ADMIN"},
    {"role": None},
    {"role": ["admin"]},
    {"role": 1},
    {"is_active": "false"},
    {"is_active": 0},
    {"is_active": None},
    {"role": "merchant", "phone": "13000000000"},
    {"token_version": 0},
    {"password_hash": "x"},
]


class TestChangingUsers:
    async def test_admin_lists_and_filters(self, client):
        admin = await create_user(role=Role.admin)
        await create_user(phone="13512340000", role=Role.merchant)
        await create_user(phone="13512340001")
        await create_user(phone="13699990000")
        listed = (await client.get("/api/admin/users?phone=135123&size=1", headers=auth(admin))).json()
        assert listed["total"] == 2 and listed["size"] == 1 and len(listed["items"]) == 1
        assert set(listed["items"][0]) == {"id", "phone", "nickname", "role", "is_active", "created_at"}
        merchants = (await client.get("/api/admin/users?role=merchant", headers=auth(admin))).json()
        assert [u["phone"] for u in merchants["items"]] == ["13512340000"]

    @pytest.mark.parametrize(
        "query", ["phone=%25", "phone=_", "phone=1%27--", "phone=1" * 12, "role=root", "page=0", "size=101"]
    )
    async def test_bad_filters_are_422(self, client, query):
        admin = await create_user(role=Role.admin)
        assert_problem(
            await client.get(f"/api/admin/users?{query}", headers=auth(admin)), 422, "validation_error"
        )

    @pytest.mark.parametrize("body", BAD_PATCHES, ids=repr)
    async def test_bad_bodies_are_422_and_change_nothing(self, client, body):
        admin, target = await create_user(role=Role.admin), await create_user()
        r = await client.patch(f"/api/admin/users/{target.id}", json=body, headers=auth(admin))
        assert_problem(r, 422, "validation_error")
        after = await reload(target.id)
        assert (after.role, after.is_active, after.token_version) == ("customer", True, 0)

    @pytest.mark.parametrize("user_id", ["0", "-1", "9" * 30, "١", "1.5"])
    async def test_bad_ids_are_422(self, client, user_id):
        admin = await create_user(role=Role.admin)
        r = await client.patch(f"/api/admin/users/{user_id}", json={"role": "merchant"}, headers=auth(admin))
        assert_problem(r, 422, "validation_error")

    async def test_unknown_user_is_404(self, client):
        admin = await create_user(role=Role.admin)
        r = await client.patch("/api/admin/users/999999", json={"role": "merchant"}, headers=auth(admin))
        assert_problem(r, 404, "user_not_found")

    @pytest.mark.parametrize(
        "body",
        [
            {"role": "merchant"},
            {"role": "customer"},
            {"is_active": False},
            {"role": "merchant", "is_active": False},
        ],
    )
    async def test_an_admin_cannot_demote_or_disable_themselves(self, client, body):
        admin = await create_user(role=Role.admin)
        await create_user(role=Role.admin)  # not the last admin: the rule is about oneself
        r = await client.patch(f"/api/admin/users/{admin.id}", json=body, headers=auth(admin))
        assert_problem(r, 409, "cannot_change_own_account")
        assert (await reload(admin.id)).role == "admin"

    async def test_a_change_is_audited_emitted_and_revokes_the_targets_tokens(self, client):
        admin, target = await create_user(role=Role.admin), await create_user()
        target_headers = auth(target)
        r = await client.patch(
            f"/api/admin/users/{target.id}", json={"role": "merchant"}, headers=auth(admin)
        )
        assert r.status_code == 200 and r.json()["role"] == "merchant"
        assert_problem(await client.get("/api/users/me", headers=target_headers), 401, "not_authenticated")
        async with session_scope() as session:
            entry = (await session.execute(select(AuditLog).where(AuditLog.entity == "user"))).scalar_one()
            event = (
                await session.execute(select(OutboxEvent).where(OutboxEvent.type == "user.updated"))
            ).scalar_one()
        assert entry.actor_id == admin.id and entry.changes == {
            "role": {"before": "customer", "after": "merchant"}
        }
        assert event.data["changed"] == ["role"] and event.data["changed_by"] == admin.id
        # Re-enabled and re-promoted accounts log in again (with new tokens).
        await client.patch(f"/api/admin/users/{target.id}", json={"is_active": False}, headers=auth(admin))
        assert_problem(await login(client, target.phone), 401, "invalid_credentials")
        await client.patch(f"/api/admin/users/{target.id}", json={"is_active": True}, headers=auth(admin))
        assert (await login(client, target.phone)).status_code == 200

    @pytest.mark.parametrize("change", [{"role": "merchant"}, {"role": "customer"}, {"is_active": False}])
    async def test_two_admins_removing_each_other_at_once_leave_one_admin(self, client, change):
        first, second = await create_user(role=Role.admin), await create_user(role=Role.admin)
        responses = await asyncio.gather(
            client.patch(f"/api/admin/users/{second.id}", json=change, headers=auth(first)),
            client.patch(f"/api/admin/users/{first.id}", json=change, headers=auth(second)),
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses[0] == 200 and statuses[1] in (401, 403, 409), [r.text for r in responses]
        async with session_scope() as session:
            admins = (
                await session.execute(
                    select(func.count())
                    .select_from(User)
                    .where(User.role == "admin", User.is_active.is_(True))
                )
            ).scalar_one()
        assert admins == 1


class TestUserPages:
    async def test_merchants_get_403_and_no_menu_entry(self, client):
        await log_in(client, await create_user(role=Role.merchant))
        dashboard = await client.get("/admin/")
        assert 'href="/admin/users"' not in dashboard.text
        for path in ("/admin/users", "/admin/users/1"):
            assert (await client.get(path)).status_code == 403

    async def test_admin_changes_a_role_and_disables_through_the_pages(self, client):
        await log_in(client, await create_user(role=Role.admin))
        target = await create_user(phone="13712345678")
        listed = await client.get("/admin/users?phone=137123")
        assert 'href="/admin/users"' in listed.text and "13712345678" in listed.text
        page = await client.get(f"/admin/users/{target.id}")
        token = csrf_token_from(page.text)
        changed = await client.post(
            f"/admin/users/{target.id}/role", data={"role": "merchant", "csrf_token": token}
        )
        assert changed.status_code == 303 and changed.headers["location"].endswith("done=role")
        disabled = await client.post(f"/admin/users/{target.id}/disable", data={"csrf_token": token})
        assert disabled.headers["location"].endswith("done=disabled")
        after = await reload(target.id)
        assert (after.role, after.is_active) == ("merchant", False)
        forged = await client.post(f"/admin/users/{target.id}/enable", data={"csrf_token": "forged"})
        assert forged.status_code == 403 and not (await reload(target.id)).is_active

    @pytest.mark.parametrize("role", ["root", "", "ADMIN", "admin' --"])
    async def test_a_bad_role_from_the_form_changes_nothing(self, client, role):
        await log_in(client, await create_user(role=Role.admin))
        target = await create_user()
        token = csrf_token_from((await client.get(f"/admin/users/{target.id}")).text)
        r = await client.post(f"/admin/users/{target.id}/role", data={"role": role, "csrf_token": token})
        assert r.headers["location"].endswith("error=role")
        assert (await reload(target.id)).role == "customer"

    async def test_the_admin_cannot_demote_themselves_from_the_page_either(self, client):
        admin = await create_user(role=Role.admin)
        await log_in(client, admin)
        page = await client.get(f"/admin/users/{admin.id}")
        assert "不能修改自己的角色" in page.text
        token = csrf_token_from(page.text)
        r = await client.post(f"/admin/users/{admin.id}/role", data={"role": "customer", "csrf_token": token})
        assert r.headers["location"].endswith("error=self")
        assert (await reload(admin.id)).role == "admin"


class TestAccountSecurityPage:
    async def test_change_password_keeps_this_browser_logged_in_and_ends_the_others(self, client):
        user = await create_user()
        api_pair = await _log_in_pair(client, user)
        await log_in(client, user)
        page = await client.get("/account/security")
        token = csrf_token_from(page.text)
        r = await client.post(
            "/account/password",
            data={
                "old_password": DEFAULT_PASSWORD,
                "new_password": "a-brand-new-rice-2027",
                "new_password_confirm": "a-brand-new-rice-2027",
                "csrf_token": token,
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/account/security?done=changed"
        assert "密码已修改" in (await client.get(r.headers["location"])).text  # still logged in here
        assert_problem(
            await client.get("/api/users/me", headers=auth_header(api_pair)), 401, "not_authenticated"
        )

    @pytest.mark.parametrize(
        ("old", "new", "confirm", "message"),
        [
            ("wrong-password", "a-brand-new-rice-2027", "a-brand-new-rice-2027", "当前密码不正确"),
            (DEFAULT_PASSWORD, "password", "password", "太常见"),
            (DEFAULT_PASSWORD, "a-brand-new-rice-2027", "a-brand-new-rice-2028", "不一致"),
            (DEFAULT_PASSWORD, "short", "short", "8–128"),
        ],
    )
    async def test_refusals_are_shown_on_the_form(self, client, old, new, confirm, message):
        user = await create_user()
        await log_in(client, user)
        token = csrf_token_from((await client.get("/account/security")).text)
        r = await client.post(
            "/account/password",
            data={
                "old_password": old,
                "new_password": new,
                "new_password_confirm": confirm,
                "csrf_token": token,
            },
        )
        assert r.status_code == 422 and message in r.text
        assert (await login(client, user.phone)).status_code == 200

    async def test_log_out_everywhere_ends_this_and_every_other_session(self, client):
        user = await create_user()
        api_pair = await _log_in_pair(client, user)
        await log_in(client, user)
        token = csrf_token_from((await client.get("/account/security")).text)
        r = await client.post("/account/logout-all", data={"csrf_token": token})
        assert r.status_code == 303
        assert (await client.get("/account/security")).status_code == 303  # back to the login page
        assert_problem(
            await client.get("/api/users/me", headers=auth_header(api_pair)), 401, "not_authenticated"
        )


def csrf_token_from(html: str) -> str:
    from tests.storefront.pages import csrf_from

    return csrf_from(html)
