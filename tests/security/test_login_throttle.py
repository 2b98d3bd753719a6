"""Lockouts as a weapon (issue 13, item 10): login throttling slows an attacker without locking the owner out
(the rule is in app.users.throttle's docstring). Every test runs on the configured store and, when Redis is
configured, again on the database fallback; time moves through `throttle.clock`, never by sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from app.config import get_settings
from app.users import throttle
from app.users.models import Role
from tests.conftest import HAS_REDIS
from tests.users.factories import DEFAULT_PASSWORD, auth, create_user, next_phone

OWNER_HOME = "203.0.113.7"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Without Redis the configured store is the database already.
@pytest.fixture(params=["configured", "database"] if HAS_REDIS else ["configured"])
def store(request, monkeypatch) -> str:
    if request.param == "database":
        monkeypatch.setattr(throttle, "get_redis", lambda: None)
    return request.param


@pytest.fixture
def clock(monkeypatch, store) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "clock", fake)
    return fake


@pytest.fixture
def tune(monkeypatch) -> Callable[..., None]:
    def tune(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setattr(get_settings(), name, value)

    return tune


class Clients:
    """One HTTP client per client address (the TCP peer the shop sees)."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def at(self, ip: str) -> httpx.AsyncClient:
        if ip not in self._clients:
            from app.main import app

            transport = httpx.ASGITransport(app=app, client=(ip, 50000))
            self._clients[ip] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return self._clients[ip]

    async def login(self, ip: str, phone: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
        return await self.at(ip).post("/api/auth/login", json={"phone": phone, "password": password})

    async def close(self) -> None:
        for c in self._clients.values():
            await c.aclose()


@pytest.fixture
async def net() -> AsyncIterator[Clients]:
    clients = Clients()
    yield clients
    await clients.close()


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "too_many_attempts"
    return int(response.headers["retry-after"])


# Addresses of one network (IPv4 /24, IPv6 /48) that an attacker may rotate through.
ONE_NETWORK = {
    "ipv4_24": lambda i: f"198.51.100.{i % 250 + 1}",
    "ipv6_64": lambda i: f"2001:db8:abcd:1::{i + 1:x}",
    "ipv6_48": lambda i: f"2001:db8:abcd:{i + 1:x}::{i + 7:x}",
    "ipv4_mapped_mixed": lambda i: f"::ffff:198.51.100.{i + 1}" if i % 2 else f"198.51.100.{i + 1}",
}
# A new network for each i.
NEW_NETWORKS = {
    "ipv4": lambda i: f"10.{i // 250}.{i % 250}.9",
    "ipv6": lambda i: f"2001:db8:{i + 1:x}::9",
}


class TestGrowingDelays:
    @pytest.mark.parametrize(
        ("free", "base", "cap", "steps"), [(5, 5, 900, 4), (3, 2, 20, 6), (1, 1, 5, 5), (2, 7, 7, 3)]
    )
    async def test_each_failure_beyond_the_free_ones_doubles_the_wait_up_to_the_cap(
        self, net, clock, tune, free, base, cap, steps
    ):
        tune(login_free_failures=free, login_backoff_base_seconds=base, login_backoff_max_seconds=cap)
        user = await create_user()
        for _ in range(free):
            assert (await net.login(OWNER_HOME, user.phone, "wrong-password")).status_code == 401
        waits = []
        for _ in range(steps):
            wait = retry_after(await net.login(OWNER_HOME, user.phone, "wrong-password"))
            assert retry_after(await net.login(OWNER_HOME, user.phone)) == wait  # the right one waits too
            waits.append(wait)
            clock.advance(wait)
            assert (await net.login(OWNER_HOME, user.phone, "wrong-password")).status_code == 401
        assert waits == [math.ceil(min(base * 2**k, cap)) for k in range(steps)]

    async def test_hammering_during_a_wait_does_not_extend_it(self, net, clock, tune):
        tune(login_free_failures=2, login_backoff_base_seconds=10)
        user = await create_user()
        for _ in range(2):
            await net.login(OWNER_HOME, user.phone, "wrong-password")
        for second in range(10):
            assert retry_after(await net.login(OWNER_HOME, user.phone, "wrong-password")) == 10 - second
            clock.advance(1)
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200

    async def test_failures_are_forgotten_after_the_window(self, net, clock, tune):
        tune(login_free_failures=3, login_failure_window_seconds=300)
        user = await create_user()
        for _ in range(3):
            await net.login(OWNER_HOME, user.phone, "wrong-password")
        retry_after(await net.login(OWNER_HOME, user.phone, "wrong-password"))
        clock.advance(301)
        for _ in range(3):
            assert (await net.login(OWNER_HOME, user.phone, "wrong-password")).status_code == 401

    async def test_a_success_forgets_the_networks_failures(self, net, clock, tune):
        tune(login_free_failures=3)
        user = await create_user()
        for _ in range(2):
            await net.login(OWNER_HOME, user.phone, "wrong-password")
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200
        for _ in range(3):
            assert (await net.login(OWNER_HOME, user.phone, "wrong-password")).status_code == 401

    async def test_concurrent_guesses_from_one_network_cannot_slip_past(self, net, clock):
        user = await create_user()
        responses = await asyncio.gather(
            *(net.login(f"198.51.100.{i + 1}", user.phone, "wrong-password") for i in range(12))
        )
        assert sorted(r.status_code for r in responses) == [401] * 5 + [429] * 7


class TestTheOwnerIsNeverLockedOut:
    @pytest.mark.parametrize("attacker", ["198.51.100.66", "2001:db8:bad::1", "::ffff:198.51.100.66"])
    async def test_an_attacker_elsewhere_does_not_slow_the_owner_and_stays_slowed(self, net, clock, attacker):
        user = await create_user()
        statuses = [(await net.login(attacker, user.phone, "wrong-password")).status_code for _ in range(12)]
        assert statuses == [401] * 5 + [429] * 7
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200
        retry_after(await net.login(attacker, user.phone, "wrong-password"))

    async def test_an_attacker_on_the_owners_network_delays_the_owner_at_most_the_cap(self, net, clock, tune):
        tune(login_free_failures=2, login_backoff_base_seconds=1, login_backoff_max_seconds=8)
        user = await create_user()
        for _ in range(12):  # the attacker keeps guessing as fast as allowed, for as long as they like
            response = await net.login(OWNER_HOME, user.phone, "wrong-password")
            if response.status_code == 429:
                clock.advance(retry_after(response))
                assert (await net.login(OWNER_HOME, user.phone, "wrong-password")).status_code == 401
        wait = retry_after(await net.login(OWNER_HOME, user.phone))
        assert wait <= 8
        clock.advance(wait)
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200

    @pytest.mark.parametrize("addresses", ONE_NETWORK.values(), ids=ONE_NETWORK.keys())
    async def test_rotating_addresses_inside_one_network_counts_as_one(self, net, clock, addresses):
        user = await create_user()
        for i in range(5):
            assert (await net.login(addresses(i), user.phone, "wrong-password")).status_code == 401
        retry_after(await net.login(addresses(5), user.phone, "wrong-password"))
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200

    @pytest.mark.parametrize("networks", NEW_NETWORKS.values(), ids=NEW_NETWORKS.keys())
    async def test_each_network_has_its_own_free_failures(self, net, clock, networks):
        user = await create_user()
        for i in range(4):
            for _ in range(5):
                assert (await net.login(networks(i), user.phone, "wrong-password")).status_code == 401


class TestDistributedGuessing:
    @pytest.mark.parametrize("networks", NEW_NETWORKS.values(), ids=NEW_NETWORKS.keys())
    async def test_the_per_phone_ceiling_stops_new_networks_but_not_the_owners_usual_one(
        self, net, clock, tune, networks
    ):
        tune(login_max_failures_per_phone=6, login_failure_window_seconds=3600)
        user = await create_user()
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200  # the owner's usual network
        for i in range(6):
            assert (await net.login(networks(i), user.phone, "wrong-password")).status_code == 401
        assert retry_after(await net.login(networks(6), user.phone, "wrong-password")) <= 3600
        assert (await net.login(OWNER_HOME, user.phone)).status_code == 200
        retry_after(await net.login(networks(7), user.phone))  # a network never used: refused for now
        clock.advance(3601)
        assert (await net.login(networks(7), user.phone)).status_code == 200

    async def test_concurrent_guesses_from_many_networks_stop_at_the_ceiling(self, net, clock, tune):
        tune(login_max_failures_per_phone=5)
        user = await create_user()
        responses = await asyncio.gather(
            *(net.login(NEW_NETWORKS["ipv4"](i), user.phone, "wrong-password") for i in range(12))
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(401) == 5 and statuses.count(429) == 7, statuses


class TestSharedNetworks:
    @pytest.mark.parametrize("nat", ["100.64.0.1", "2001:db8:ca:1::1"])
    async def test_a_campus_whose_students_mistype_still_logs_in(self, net, clock, nat):
        users = [await create_user() for _ in range(12)]
        for user in users:
            assert (await net.login(nat, user.phone, "wrong-password")).status_code == 401
            assert (await net.login(nat, user.phone)).status_code == 200

    @pytest.mark.parametrize("nat", ["100.64.0.1", "2001:db8:ca:1::1"])
    async def test_credential_stuffing_stops_but_people_who_logged_in_there_before_do_not(
        self, net, clock, tune, nat
    ):
        tune(login_max_phones_per_network=4, login_network_window_seconds=600)
        regulars = [await create_user() for _ in range(3)]
        for user in regulars:
            assert (await net.login(nat, user.phone)).status_code == 200
        for _ in range(4):  # the attacker tries phone after phone from the same NAT
            assert (await net.login(nat, next_phone(), "123456789")).status_code == 401
        assert retry_after(await net.login(nat, next_phone(), "123456789")) <= 600
        for user in regulars:
            assert (await net.login(nat, user.phone, "wrong-password")).status_code == 401
            assert (await net.login(nat, user.phone)).status_code == 200
        newcomer = await create_user()
        retry_after(await net.login(nat, newcomer.phone))
        assert (await net.login(OWNER_HOME, newcomer.phone)).status_code == 200  # other networks unaffected
        clock.advance(601)
        assert (await net.login(nat, (await create_user()).phone)).status_code == 200

    async def test_a_phone_failing_again_and_again_counts_once_toward_stuffing(self, net, clock, tune):
        tune(login_max_phones_per_network=2)
        user = await create_user()
        for _ in range(5):
            assert (await net.login("100.64.0.1", user.phone, "wrong-password")).status_code == 401
        assert (await net.login("100.64.0.1", (await create_user()).phone)).status_code == 200


class TestRegistrationAndPasswordChange:
    @pytest.mark.parametrize("addresses", ONE_NETWORK.values(), ids=ONE_NETWORK.keys())
    async def test_registrations_are_counted_per_network(self, net, clock, tune, addresses):
        tune(register_max_per_network=3)
        for i in range(3):
            r = await net.at(addresses(i)).post(
                "/api/users", json={"phone": next_phone(), "password": "a-long-password"}
            )
            assert r.status_code == 201, r.text
        refused = await net.at(addresses(3)).post(
            "/api/users", json={"phone": next_phone(), "password": "a-long-password"}
        )
        retry_after(refused)
        other = await net.at("192.0.2.10").post(
            "/api/users", json={"phone": next_phone(), "password": "a-long-password"}
        )
        assert other.status_code == 201

    async def test_guessing_the_current_password_is_throttled_like_a_login(self, net, clock):
        user = await create_user()
        client = net.at("198.51.100.9")
        body = {"old_password": "wrong-password", "new_password": "a-brand-new-rice-2027"}
        for _ in range(5):
            r = await client.post("/api/users/me/password", json=body, headers=auth(user))
            assert r.status_code == 422 and r.json()["code"] == "wrong_password"
        retry_after(await client.post("/api/users/me/password", json=body, headers=auth(user)))

    async def test_staff_accounts_get_the_same_protection(self, net, clock):
        admin = await create_user(role=Role.admin)
        for _ in range(20):
            await net.login("198.51.100.66", admin.phone, "wrong-password")
        assert (await net.login(OWNER_HOME, admin.phone)).status_code == 200
