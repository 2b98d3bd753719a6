"""The network edge (issue 13, items 1, 12, 13, 14 and the API docs in production).

* Client address: a client that reaches the shop directly cannot choose its address with any forwarded
  header, so it cannot escape the per-address login and registration limits; behind trusted proxies each real
  client is counted on its own, and fake addresses prepended to X-Forwarded-For change nothing.
* Host: only ALLOWED_HOSTS are answered (fast paths included); redirects never point at the request's Host.
* Content-Security-Policy on every HTML answer: every page, every error page.
* CSRF: the token is bound to the login session; unsafe page requests from another origin are refused.
* /docs, /redoc and /openapi.json are off in production unless asked for.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.config import Settings, get_settings
from app.db import session_scope
from app.kit.client import client_address_of, is_https_scope
from app.kit.guard import PAGE_CSP
from app.main import app, create_app
from app.orders.models import Order
from app.users.models import Address, RefreshToken, Role, User
from tests.orders.factories import customer, sku_on_sale
from tests.security.routes import api_routes, fill, first_method, is_page
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import DEFAULT_PASSWORD, auth, create_user, next_phone

DIRECT_PEER = "203.0.113.7"  # a client on the internet, talking to the shop without a proxy
PROXY = "127.0.0.1"


def client_for(peer: str = DIRECT_PEER, target: Any = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=target or app, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def replace_cookie(c: httpx.AsyncClient, name: str, value: str) -> None:
    c.cookies.delete(name)
    c.cookies.set(name, value)


def trust(monkeypatch, allow: str = PROXY) -> None:
    monkeypatch.setattr(get_settings(), "trust_forwarded_for", True)
    monkeypatch.setattr(get_settings(), "forwarded_allow_ips", allow)


def scope(peer: str | None, *headers: tuple[str, str], scheme: str = "http") -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": scheme,
        "client": (peer, 1234) if peer else None,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }


# Each spoofing style, as a function of the attempt number: the headers an attacker adds to look new.
SPOOFS = {
    "xff": lambda i: [("X-Forwarded-For", f"198.51.{100 + i}.9")],
    "xff-list": lambda i: [("X-Forwarded-For", f"198.51.{100 + i}.9, 192.0.{i}.2")],
    "xff-ending-in-the-proxy": lambda i: [("X-Forwarded-For", f"198.51.{100 + i}.9, 127.0.0.1")],
    "xff-spaces": lambda i: [("X-Forwarded-For", f"   10.{i}.0.1 ,  ,  ")],
    "xff-ipv6": lambda i: [("X-Forwarded-For", f"2001:db8:{i:x}::1")],
    "xff-ipv6-brackets-port": lambda i: [("X-Forwarded-For", f"[2001:db8:{i:x}::1]:443")],
    "xff-ipv4-port": lambda i: [("X-Forwarded-For", f"198.51.{100 + i}.9:8080")],
    "xff-garbage": lambda i: [("X-Forwarded-For", f"garbage-{i}, <script>, unknown")],
    "xff-loopback": lambda i: [("X-Forwarded-For", "127.0.0.1" if i % 2 else "::1")],
    "xff-long-chain": lambda i: [("X-Forwarded-For", ", ".join(f"10.0.{i}.{n}" for n in range(200)))],
    "two-xff-headers": lambda i: [
        ("X-Forwarded-For", f"192.0.{i}.2"),
        ("X-Forwarded-For", f"198.51.{100 + i}.9"),
    ],
    "x-real-ip": lambda i: [("X-Real-IP", f"198.51.{100 + i}.9")],
    "forwarded-for": lambda i: [("Forwarded", f"for=198.51.{100 + i}.9;proto=https")],
    "forwarded-ipv6": lambda i: [("Forwarded", f'for="[2001:db8:{i:x}::1]:4711"')],
    "client-ip-headers": lambda i: [
        ("X-Client-IP", f"198.51.{100 + i}.9"),
        ("True-Client-IP", f"198.51.{100 + i}.9"),
        ("CF-Connecting-IP", f"198.51.{100 + i}.9"),
        ("X-Cluster-Client-IP", f"198.51.{100 + i}.9"),
    ],
    "everything-at-once": lambda i: [
        ("X-Forwarded-For", f"198.51.{100 + i}.9"),
        ("X-Real-IP", f"192.0.{i}.2"),
        ("Forwarded", f"for=10.0.0.{i}"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
    ],
}
# Who may not be believed: no trust at all, or trust for proxies the client is not.
UNTRUSTED = {
    "trust-off": None,
    "peer-not-a-listed-proxy": "127.0.0.1",
    "peer-outside-the-network": "10.0.0.0/8, 192.168.0.0/16",
    "peer-outside-ipv6-network": "::1, fd00::/8",
}


async def failed_login(c: httpx.AsyncClient, headers: list[tuple[str, str]] | None = None) -> int:
    response = await c.post(
        "/api/auth/login",
        json={"phone": next_phone(), "password": "wrong-password-1"},
        headers=headers or [],
    )
    return response.status_code


class TestClientAddressDecision:
    """app.kit.client.client_address_of, the one function every limit and log line uses."""

    @pytest.mark.parametrize("spoof", sorted(SPOOFS))
    @pytest.mark.parametrize("allow", sorted(UNTRUSTED))
    def test_an_untrusted_peer_is_itself_whatever_it_sends(self, monkeypatch, spoof, allow):
        if UNTRUSTED[allow] is not None:
            trust(monkeypatch, UNTRUSTED[allow])
        for i in range(1, 4):
            assert client_address_of(scope(DIRECT_PEER, *SPOOFS[spoof](i))) == DIRECT_PEER

    def test_without_trust_even_the_local_proxy_is_the_client(self):
        assert client_address_of(scope(PROXY, ("X-Forwarded-For", "198.51.100.1"))) == PROXY

    @pytest.mark.parametrize(
        ("allow", "peer", "xff", "expected"),
        [
            ("127.0.0.1", "127.0.0.1", "198.51.100.1", "198.51.100.1"),
            ("127.0.0.1", "127.0.0.1", " 198.51.100.1 ", "198.51.100.1"),
            # Entries left of the proxy's own are the client's to write: fakes prepended change nothing.
            ("127.0.0.1", "127.0.0.1", "1.2.3.4, 5.6.7.8, 198.51.100.1", "198.51.100.1"),
            # A chain of trusted proxies: the right-most address that is not one of them.
            (
                "127.0.0.1, 10.0.0.0/8",
                "127.0.0.1",
                "1.2.3.4, 198.51.100.1, 10.0.0.5, 10.1.2.3",
                "198.51.100.1",
            ),
            ("127.0.0.1", "127.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.5", "10.0.0.5"),
            # Every hop trusted: the left-most started the request.
            ("10.0.0.0/8", "10.0.0.9", "10.0.0.1, 10.0.0.2", "10.0.0.1"),
            ("*", "203.0.113.7", "198.51.100.1", "198.51.100.1"),
            ("127.0.0.1", "127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
            ("127.0.0.1", "127.0.0.1", "2001:DB8:0:0::1", "2001:db8::1"),
            ("127.0.0.1", "127.0.0.1", "198.51.100.1:8080", "198.51.100.1"),
            ("127.0.0.1", "127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
            ("::1", "::1", "198.51.100.1", "198.51.100.1"),
            ("127.0.0.0/8", "127.0.0.2", "198.51.100.1", "198.51.100.1"),
            # What the proxy put where the client's address belongs is no address: the proxy is the client.
            ("127.0.0.1", "127.0.0.1", "1.2.3.4, garbage", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.1", "", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.1", " , ,", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.1", "1" * 5000, "127.0.0.1"),
        ],
    )
    def test_a_trusted_proxy_names_the_client(self, monkeypatch, allow, peer, xff, expected):
        trust(monkeypatch, allow)
        assert client_address_of(scope(peer, ("X-Forwarded-For", xff))) == expected

    def test_repeated_headers_read_as_one_list(self, monkeypatch):
        trust(monkeypatch)
        headers = (("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "198.51.100.1"))
        assert client_address_of(scope(PROXY, *headers)) == "198.51.100.1"

    @pytest.mark.parametrize("header", ["X-Real-IP", "Forwarded", "True-Client-IP", "CF-Connecting-IP"])
    def test_other_headers_are_not_believed_even_from_a_trusted_proxy(self, monkeypatch, header):
        trust(monkeypatch)
        value = "for=198.51.100.1" if header == "Forwarded" else "198.51.100.1"
        assert client_address_of(scope(PROXY, (header, value))) == PROXY

    @pytest.mark.parametrize(
        ("trusted", "headers", "scheme", "https"),
        [
            (False, [("X-Forwarded-Proto", "https")], "http", False),
            (True, [("X-Forwarded-Proto", "https")], "http", True),
            (True, [("X-Forwarded-Proto", "HTTPS ")], "http", True),
            (True, [("X-Forwarded-Proto", "https, http")], "http", False),  # our proxy saw http
            (True, [("X-Forwarded-Proto", "http")], "https", False),
            (True, [("X-Forwarded-Proto", "javascript")], "http", False),
            (True, [], "https", True),
            (False, [], "https", True),
        ],
    )
    def test_https_is_ours_or_a_trusted_proxys(self, monkeypatch, trusted, headers, scheme, https):
        if trusted:
            trust(monkeypatch)
        assert is_https_scope(scope(PROXY, *headers, scheme=scheme)) is https
        assert is_https_scope(scope(DIRECT_PEER, *headers, scheme=scheme)) is (scheme == "https")

    @pytest.mark.parametrize("bad", ["10.0.0.0/33", "localhost", "1.2.3", "127.0.0.1, evil"])
    def test_a_bad_proxy_list_is_refused_at_start(self, bad):
        with pytest.raises(ValidationError, match="FORWARDED_ALLOW_IPS"):
            Settings(forwarded_allow_ips=bad)


class TestSpoofingCannotEscapeTheLimits:
    """Against the real login throttle and registration limit, as a client would attack them."""

    @pytest.mark.parametrize("spoof", sorted(SPOOFS))
    @pytest.mark.parametrize("allow", sorted(UNTRUSTED))
    async def test_login_failures_are_counted_per_real_peer(self, monkeypatch, spoof, allow):
        monkeypatch.setattr(get_settings(), "login_max_phones_per_network", 3)
        if UNTRUSTED[allow] is not None:
            trust(monkeypatch, UNTRUSTED[allow])
        async with client_for(DIRECT_PEER) as c:
            statuses = [await failed_login(c, SPOOFS[spoof](i)) for i in range(1, 6)]
        assert statuses == [401, 401, 401, 429, 429]

    @pytest.mark.parametrize("spoof", ["xff", "x-real-ip", "forwarded-for", "two-xff-headers", "xff-ipv6"])
    async def test_registrations_are_counted_per_real_peer(self, monkeypatch, spoof):
        monkeypatch.setattr(get_settings(), "register_max_per_network", 2)
        trust(monkeypatch, "10.0.0.0/8")  # trust on, but not for this peer
        async with client_for(DIRECT_PEER) as c:
            statuses = []
            for i in range(1, 5):
                response = await c.post(
                    "/api/users",
                    json={"phone": next_phone(), "password": "a-long-password-1"},
                    headers=SPOOFS[spoof](i),
                )
                statuses.append(response.status_code)
        assert statuses == [201, 201, 429, 429]
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(User))).scalar_one() == 2

    async def test_behind_a_trusted_proxy_each_client_is_counted_on_its_own(self, monkeypatch):
        monkeypatch.setattr(get_settings(), "login_max_phones_per_network", 3)
        trust(monkeypatch, "127.0.0.1, 10.0.0.0/8")
        async with client_for(PROXY) as proxy:
            attacker = [
                await failed_login(proxy, [("X-Forwarded-For", f"1.2.3.{i}, 198.51.100.66, 10.0.0.{i}")])
                for i in range(1, 6)
            ]
            bystander = await failed_login(proxy, [("X-Forwarded-For", "192.0.2.77")])
            ipv6_bystander = await failed_login(proxy, [("X-Forwarded-For", "2001:db8:77::1")])
        # The attacker rotated the fake part and the inner proxy hop: still one client, throttled.
        assert attacker == [401, 401, 401, 429, 429]
        assert bystander == 401 and ipv6_bystander == 401

    async def test_the_trusted_proxy_itself_is_not_a_loophole_without_trust(self, monkeypatch):
        # TRUST_FORWARDED_FOR off: even requests from 127.0.0.1 are that one client.
        monkeypatch.setattr(get_settings(), "login_max_phones_per_network", 3)
        async with client_for(PROXY) as c:
            statuses = [await failed_login(c, [("X-Forwarded-For", f"198.51.{100 + i}.9")]) for i in range(4)]
        assert statuses[-1] == 429

    async def test_the_access_log_names_the_real_peer(self, caplog):
        caplog.set_level(logging.INFO, logger="daoxiang.access")
        async with client_for(DIRECT_PEER) as c:
            await c.get("/api/health", headers={"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "192.0.2.1"})
        lines = [r for r in caplog.records if r.name == "daoxiang.access" and r.path == "/api/health"]
        assert lines and lines[-1].client == DIRECT_PEER

    async def test_the_access_log_names_the_client_behind_a_trusted_proxy(self, monkeypatch, caplog):
        trust(monkeypatch)
        caplog.set_level(logging.INFO, logger="daoxiang.access")
        async with client_for(PROXY) as c:
            await c.get("/api/categories", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.1"})
        lines = [r for r in caplog.records if r.name == "daoxiang.access" and r.path == "/api/categories"]
        assert lines and lines[-1].client == "198.51.100.1"


class TestSecureCookies:
    async def _session_cookie(self, peer: str, headers: dict[str, str]) -> str:
        user = await create_user()
        async with client_for(peer) as c:
            token = csrf_from((await c.get("/login")).text)
            response = await c.post(
                "/login",
                data={"phone": user.phone, "password": DEFAULT_PASSWORD, "csrf_token": token, "next": "/"},
                headers=headers,
            )
        assert response.status_code == 303
        return next(v for v in response.headers.get_list("set-cookie") if v.startswith("dx_session="))

    @pytest.mark.parametrize("proto", ["https", "HTTPS", "https, https", "wss"])
    async def test_a_client_cannot_claim_https(self, monkeypatch, proto):
        trust(monkeypatch)  # trusted proxies exist, but this client is not one
        cookie = await self._session_cookie(DIRECT_PEER, {"X-Forwarded-Proto": proto})
        assert "secure" not in cookie.lower()

    async def test_a_trusted_proxy_that_terminated_tls_makes_cookies_secure(self, monkeypatch):
        trust(monkeypatch)
        cookie = await self._session_cookie(
            PROXY,
            {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1", "Origin": "https://testserver"},
        )
        assert "secure" in cookie.lower()


class TestServe:
    def test_uvicorn_does_not_rewrite_the_client_address(self, monkeypatch):
        import uvicorn

        from app.cli import cli

        seen: dict[str, Any] = {}
        monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
        result = CliRunner().invoke(cli, ["serve", "--port", "8123"])
        assert result.exit_code == 0, result.output
        assert seen["proxy_headers"] is False


# ----------------------------------------------------------------------------------------------------- Host

EVIL_HOSTS = [
    "evil.example",
    "EVIL.EXAMPLE",
    "evil.example:8000",
    "evil.example.",
    "testserver.evil.example",
    "evil-testserver",
    "testserverevil",
    "testserver@evil.example",
    "evil.example@testserver",
    "user:pass@testserver",
    "testserver:8000@evil.example",
    "testserver/evil.example",
    "testserver\\evil.example",
    "testserver:abc",
    "testserver:",
    "testserver:123456",
    "testserver evil.example",
    "testserver,evil.example",
    "tést.example",
    "xn--tst-bma.example",
    "ｔｅｓｔｓｅｒｖｅｒ",
    "testserver..",
    ".testserver",
    "127.0.0.2",
    "[::2]",
    "[::1",
    "0x7f000001",
    "",
    " ",
]
GOOD_HOSTS = [
    "testserver",
    "TESTSERVER",
    "TestServer:80",
    "testserver.",
    "localhost:8000",
    "127.0.0.1",
    "[::1]:8000",
]
# Hot paths the fast paths answer before routing, pages, redirects, the API, static files and the docs.
GUARDED = [
    ("GET", "/api/products"),
    ("GET", "/api/products/1"),
    ("GET", "/api/categories"),
    ("POST", "/api/orders"),
    ("GET", "/admin"),
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/api/health"),
    ("GET", "/static/css/site.css"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/no-such-page"),
]


def _encode_host(host: str) -> bytes:
    return host.encode("utf-8")


async def raw_request(
    method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> httpx.Response:
    """Straight into the ASGI app, with exactly these headers (httpx would fix up a Host it dislikes)."""
    messages: list[dict] = []
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (DIRECT_PEER, 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return httpx.Response(start["status"], headers=start["headers"], content=content)


class TestHost:
    @pytest.mark.parametrize(
        ("method", "path", "host"),
        # Every host variant on the fast paths and a redirecting page; every path with a few hosts.
        [(m, p, h) for m, p in GUARDED[:5] for h in EVIL_HOSTS]
        + [(m, p, h) for m, p in GUARDED[5:] for h in ("evil.example", "testserver@evil.example", "")],
        ids=lambda v: repr(v) if not str(v).startswith("/") and v not in ("GET", "POST") else v,
    )
    async def test_a_foreign_host_is_refused_before_anything_answers(self, method, path, host):
        body = b""
        headers = [(b"host", _encode_host(host))]
        if path == "/api/orders":
            user, address = await customer()
            sku = await sku_on_sale()
            body = b'{"address_id": %d, "items": [{"sku_id": %d, "quantity": 1}]}' % (address.id, sku.id)
            headers += [
                (b"authorization", f"Bearer {auth(user)['Authorization'].split()[1]}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        response = await raw_request(method, path, headers, body)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_host"
        assert "location" not in response.headers
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() == 0

    @pytest.mark.parametrize(
        "headers", [[], [(b"host", b"testserver"), (b"host", b"evil.example")]], ids=["missing", "twice"]
    )
    async def test_a_missing_or_repeated_host_is_refused(self, headers):
        response = await raw_request("GET", "/admin", headers)
        assert response.status_code == 400 and response.json()["code"] == "invalid_host"

    @pytest.mark.parametrize("host", GOOD_HOSTS)
    async def test_our_own_names_are_answered(self, host):
        response = await raw_request("GET", "/api/health", [(b"host", host.encode())])
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "forwarded",
        [
            {"X-Forwarded-Host": "evil.example"},
            {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
            {"X-Host": "evil.example"},
            {"X-Original-Host": "evil.example"},
            {"Forwarded": "host=evil.example"},
        ],
    )
    async def test_redirects_are_relative_and_ignore_forwarded_hosts(self, monkeypatch, forwarded):
        trust(monkeypatch, "*")  # even with every peer trusted, the host comes from nowhere but Host
        async with client_for() as c:
            for path in ("/admin", "/api/products/"):
                response = await c.get(path, headers=forwarded)
                assert response.status_code in (301, 307, 308), (path, response.status_code)
                location = response.headers["location"]
                assert location.startswith("/") and not location.startswith("//"), location
                assert "evil" not in location

    async def test_the_trailing_slash_redirect_keeps_the_query(self):
        async with client_for() as c:
            response = await c.get("/admin?x=1")
        assert response.headers["location"] == "/admin/?x=1"

    async def test_a_path_that_looks_like_another_host_stays_a_path(self):
        response = await raw_request("GET", "//evil.example/admin", [(b"host", b"testserver")])
        assert not response.headers.get("location", "/").startswith("//")

    def test_production_refuses_to_start_without_allowed_hosts(self):
        prod = {"app_env": "prod", "secret_key": "s" * 40, "payment_sandbox_secret": "p" * 40}
        with pytest.raises(ValidationError, match="ALLOWED_HOSTS"):
            Settings(**prod)
        settings = Settings(
            **prod,
            allowed_hosts="shop.example.com, .cdn.example.com",
            public_base_url="https://www.example.com",
        )
        # Only what was listed, and the shop's own address: no development defaults in production.
        assert settings.allowed_host_names == {"shop.example.com", ".cdn.example.com", "www.example.com"}

    @pytest.mark.parametrize(
        "bad", ["evil.example/path", "a b", "http://shop.example", "shop.example:80", "tést.example"]
    )
    def test_a_malformed_host_list_is_refused_at_start(self, bad):
        with pytest.raises(ValidationError, match="ALLOWED_HOSTS"):
            Settings(allowed_hosts=bad)

    @pytest.mark.parametrize(
        ("host", "allowed"),
        [
            ("shop.example.com", True),
            ("SHOP.example.com:443", True),
            ("img.cdn.example.com", True),
            ("cdn.example.com", True),
            ("evilcdn.example.com", False),
            ("example.com", False),
            ("localhost", False),
            ("testserver", False),
        ],
    )
    async def test_listed_hosts_and_subdomain_wildcards(self, monkeypatch, host, allowed):
        monkeypatch.setattr(get_settings(), "allowed_hosts", "shop.example.com, .cdn.example.com")
        monkeypatch.setattr(get_settings(), "public_base_url", "http://shop.example.com")
        response = await raw_request("GET", "/api/health", [(b"host", host.encode())])
        assert (response.status_code == 200) is allowed

    async def test_the_host_check_costs_next_to_nothing(self):
        """The hottest read goes through the guard; its share must stay far below a request's cost."""
        import time

        from app.kit.guard import HttpGuardMiddleware

        async def bare(scope, receive, send):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b"{}"})

        async def noop(message):
            return None

        guarded = HttpGuardMiddleware(bare)
        request_scope = scope(DIRECT_PEER, ("Host", "testserver"), ("Accept", "*/*"))
        request_scope["path"] = "/api/products"

        async def run(target, n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                await target(dict(request_scope), None, noop)
            return (time.perf_counter() - started) / n

        await run(guarded, 200)
        overhead = await run(guarded, 5000) - await run(bare, 5000)
        assert overhead < 30e-6, f"the guard costs {overhead * 1e6:.1f} µs per request"


# ------------------------------------------------------------------------------------------------------ CSP

PAGE_GETS = sorted(
    {
        fill(r.path)
        for r in api_routes()
        if is_page(r) and first_method(r) == "GET" and not r.path.endswith(".pdf")
    }
)


@pytest.fixture
async def staff_client() -> AsyncIterator[httpx.AsyncClient]:
    staff = await create_user(role=Role.admin)
    async with client_for() as c:
        await log_in(c, staff)
        yield c


class TestContentSecurityPolicy:
    def test_every_page_route_is_listed(self):
        assert {"/", "/products", "/trace/1", "/cart", "/admin/", "/admin/orders", "/login"} <= set(PAGE_GETS)
        assert len(PAGE_GETS) > 25

    @pytest.mark.parametrize("path", PAGE_GETS)
    @pytest.mark.parametrize("who", ["anonymous", "staff"])
    async def test_every_page_has_the_policy(self, staff_client, path, who):
        c = staff_client if who == "staff" else client_for()
        try:
            response = await c.get(path)
        finally:
            if who == "anonymous":
                await c.aclose()
        assert response.status_code < 500, response.text[:300]
        if response.status_code in (301, 302, 303, 307, 308):
            return  # a redirect (to the login page) has no document
        assert response.headers["content-type"].startswith("text/html"), (path, response.status_code)
        assert response.headers["content-security-policy"] == PAGE_CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/no-such-page", 404),
            ("GET", "/orders/99999", 404),
            ("GET", "/orders/not-a-number", 404),
            ("GET", "/cart/items", 405),
            ("POST", "/logout", 403),  # no CSRF token
            ("GET", "/trace/" + "x" * 80, None),
            ("GET", "/admin/", 403),  # a customer in the back office
        ],
    )
    async def test_error_pages_have_the_policy(self, method, path, status):
        user = await create_user()
        async with client_for() as c:
            await log_in(c, user)
            response = await c.request(method, path)
        if status is not None:
            assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == PAGE_CSP

    async def test_the_policy_forbids_inline_script_and_style(self):
        assert "'unsafe-inline'" not in PAGE_CSP and "script-src 'self'" in PAGE_CSP
        assert "style-src 'self'" in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP

    async def test_no_page_template_needs_inline_script(self):
        from app.storefront.templating import TEMPLATES_DIR

        offenders = [
            str(path.relative_to(TEMPLATES_DIR))
            for path in TEMPLATES_DIR.rglob("*.html")
            if re.search(r"<script(?![^>]*\bsrc=)[^>]*>|\bon[a-z]+=\"", path.read_text(encoding="utf-8"))
        ]
        assert offenders == []

    @pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
    async def test_the_api_docs_allow_exactly_their_own_inline_scripts(self, path):
        async with client_for() as c:
            response = await c.get(path)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
        for script in scripts:
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy
        assert "'unsafe-eval'" not in policy and "frame-ancestors 'none'" in policy
        assert (
            "script-src 'self' https://cdn.jsdelivr.net" in policy
            and "'unsafe-inline'" not in policy.split(";")[1]
        )

    async def test_json_answers_do_not_carry_page_headers(self):
        async with client_for() as c:
            response = await c.get("/api/categories")
        assert "content-security-policy" not in response.headers


# ----------------------------------------------------------------------------------------------------- CSRF


@asynccontextmanager
async def logged_in(peer: str = DIRECT_PEER) -> AsyncIterator[tuple[httpx.AsyncClient, User]]:
    user = await create_user()
    async with client_for(peer) as c:
        await log_in(c, user)
        yield c, user


async def revoked_sessions() -> int:
    async with session_scope() as session:
        return (
            await session.execute(
                select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_not(None))
            )
        ).scalar_one()


async def addresses() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(Address))).scalar_one()


ADDRESS = {
    "recipient": "张三",
    "phone": "13800138000",
    "province": "黑龙江省",
    "city": "哈尔滨市",
    "district": "五常市",
    "detail": "稻香路 1 号",
}

FOREIGN_ORIGINS = [
    "http://evil.example",
    "https://evil.example",
    "http://testserver.evil.example",
    "http://evil.example/testserver",
    "http://testserver:8080",
    "https://testserver",  # another scheme is another origin
    "http://testserver@evil.example",
    "null",
    "file://",
    "testserver",
    "",
    "http://",
    "http://[::1",
]


class TestCsrf:
    async def test_a_planted_cookie_and_its_token_do_not_work_with_the_victims_session(self):
        # The attacker takes a cookie + token pair from an anonymous visit and plants the cookie.
        async with client_for("198.51.100.66") as attacker:
            token = csrf_from((await attacker.get("/login")).text)
            planted = attacker.cookies["dx_csrf"]
        async with logged_in() as (victim, _user):
            replace_cookie(victim, "dx_csrf", planted)
            response = await victim.post("/logout", data={"csrf_token": token})
        assert response.status_code == 403
        assert await revoked_sessions() == 0

    async def test_the_attackers_own_logged_in_pair_does_not_work_with_the_victims_session(self):
        async with logged_in("198.51.100.66") as (attacker, _):
            token = csrf_from((await attacker.get("/")).text)
            planted = attacker.cookies["dx_csrf"]
        async with logged_in() as (victim, _user):
            replace_cookie(victim, "dx_csrf", planted)
            response = await victim.post("/account/addresses", data={**ADDRESS, "csrf_token": token})
        assert response.status_code == 403
        assert await addresses() == 0

    async def test_a_token_is_worthless_once_the_session_changes(self):
        async with logged_in() as (victim, _user):
            token = csrf_from((await victim.get("/")).text)
            async with logged_in("198.51.100.66") as (other, _):
                replace_cookie(
                    victim, "dx_session", other.cookies["dx_session"]
                )  # same CSRF cookie, other session
            response = await victim.post("/account/addresses", data={**ADDRESS, "csrf_token": token})
        assert response.status_code == 403
        assert await addresses() == 0

    async def test_an_anonymous_token_is_worthless_after_login_even_with_its_cookie_kept(self):
        user = await create_user()
        async with client_for() as c:
            anonymous_token = csrf_from((await c.get("/login")).text)
            anonymous_cookie = c.cookies["dx_csrf"]
            await log_in(c, user)
            replace_cookie(c, "dx_csrf", anonymous_cookie)  # put the pre-login cookie back
            response = await c.post("/account/addresses", data={**ADDRESS, "csrf_token": anonymous_token})
        assert response.status_code == 403
        assert await addresses() == 0

    async def test_a_token_from_before_logout_is_worthless_after(self):
        async with logged_in() as (c, _user):
            token = csrf_from((await c.get("/")).text)
            cookie = c.cookies["dx_csrf"]
            assert (await c.post("/logout", data={"csrf_token": token})).status_code == 303
            replace_cookie(c, "dx_csrf", cookie)
            other = await create_user(phone="13900139000")
            response = await c.post(
                "/login", data={"phone": other.phone, "password": DEFAULT_PASSWORD, "csrf_token": token}
            )
        assert response.status_code == 403
        assert "dx_session" not in response.headers.get("set-cookie", "")

    @pytest.mark.parametrize("origin", FOREIGN_ORIGINS, ids=repr)
    async def test_a_foreign_origin_is_refused_even_with_a_good_token(self, origin):
        async with logged_in() as (c, _user):
            token = csrf_from((await c.get("/")).text)
            response = await c.post(
                "/account/addresses", data={**ADDRESS, "csrf_token": token}, headers={"Origin": origin}
            )
        assert response.status_code == 403
        assert await addresses() == 0

    @pytest.mark.parametrize(
        "referer", [o for o in FOREIGN_ORIGINS if o] + ["http://evil.example/account/addresses"], ids=repr
    )
    async def test_without_origin_a_foreign_referer_is_refused(self, referer):
        async with logged_in() as (c, _user):
            token = csrf_from((await c.get("/")).text)
            response = await c.post("/logout", data={"csrf_token": token}, headers={"Referer": referer})
        assert response.status_code == 403
        assert await revoked_sessions() == 0

    @pytest.mark.parametrize(
        "headers",
        [
            {"Origin": "http://testserver"},
            {"Origin": "HTTP://TESTSERVER:80"},
            {"Referer": "http://testserver/account/addresses"},
            {"Referer": "http://testserver/"},
            {},  # neither: the token alone decides
        ],
        ids=["origin", "origin-default-port", "referer", "referer-root", "neither"],
    )
    async def test_our_own_origin_with_the_sessions_token_works(self, headers):
        async with logged_in() as (c, _user):
            token = csrf_from((await c.get("/account/addresses")).text)
            response = await c.post(
                "/account/addresses", data={**ADDRESS, "csrf_token": token}, headers=headers
            )
        assert response.status_code == 303, response.text[:300]
        assert await addresses() == 1

    async def test_the_public_base_url_is_our_origin_too(self, monkeypatch):
        monkeypatch.setattr(get_settings(), "public_base_url", "http://shop.example.com")
        async with logged_in() as (c, _user):
            token = csrf_from((await c.get("/")).text)
            response = await c.post(
                "/logout", data={"csrf_token": token}, headers={"Origin": "http://shop.example.com"}
            )
        assert response.status_code == 303
        assert await revoked_sessions() == 1

    @pytest.mark.parametrize(
        "token", ["ｔｏｋｅｎ", "é" * 64, "\u0000" * 64], ids=["fullwidth", "accented", "nul"]
    )
    async def test_a_non_ascii_token_is_a_refusal_not_an_error(self, token):
        async with logged_in() as (c, _user):
            response = await c.post("/logout", data={"csrf_token": token})
        assert response.status_code == 403


# ----------------------------------------------------------------------------------------------- API docs


class TestApiDocs:
    async def _get_all(self, monkeypatch, **settings: Any) -> dict[str, int]:
        for name, value in settings.items():
            monkeypatch.setattr(get_settings(), name, value)
        shop = create_app()
        async with client_for(target=shop) as c:
            return {
                path: (await c.get(path)).status_code
                for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")
            }

    async def test_production_serves_no_docs_by_default(self, monkeypatch):
        statuses = await self._get_all(monkeypatch, app_env="prod", allowed_hosts="testserver")
        assert set(statuses.values()) == {404}

    async def test_production_may_ask_for_them(self, monkeypatch):
        statuses = await self._get_all(
            monkeypatch, app_env="prod", allowed_hosts="testserver", api_docs_enabled=True
        )
        assert set(statuses.values()) == {200}

    async def test_development_may_turn_them_off(self, monkeypatch):
        statuses = await self._get_all(monkeypatch, api_docs_enabled=False)
        assert set(statuses.values()) == {404}

    async def test_the_schema_is_still_written_without_them(self, monkeypatch):
        from app.cli.openapi import OPENAPI_PATH, render_yaml

        monkeypatch.setattr(get_settings(), "api_docs_enabled", False)
        assert render_yaml(create_app().openapi()) == OPENAPI_PATH.read_text(encoding="utf-8")

    def test_the_setting_reads_like_the_others(self):
        assert Settings(api_docs_enabled="").docs_enabled is True
        assert (
            Settings(
                app_env="prod",
                secret_key="s" * 40,
                payment_sandbox_secret="p" * 40,
                allowed_hosts="a.example",
            ).docs_enabled
            is False
        )
