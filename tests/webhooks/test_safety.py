"""SSRF: a webhook never reaches the shop's own network, however the address is spelt or re-resolved."""

from __future__ import annotations

import ipaddress

import pytest

from app.errors import AppError
from app.webhooks import safety
from app.webhooks.errors import WebhookUrlRefused

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (CGNAT)
    "169.254.169.254",  # the cloud metadata service
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 around 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e"]


class TestAddresses:
    @pytest.mark.parametrize("address", NOT_PUBLIC)
    def test_non_public_addresses_are_refused(self, address):
        assert not safety.is_public(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_addresses_pass(self, address):
        assert safety.is_public(ipaddress.ip_address(address))


# Each of these is the loopback or a private address in another spelling; the resolver decodes them.
SPELLINGS = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://LOCALHOST:8000/hook",
    "http://2130706433/hook",  # decimal
    "http://0177.0.0.1/hook",  # octal
    "http://0x7f.0.0.1/hook",  # hexadecimal
    "http://0x7f000001/hook",
    "http://127.1/hook",  # short form
    "http://017700000001/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0/hook",
    "http://0.0.0.0/hook",
    "http://10.0.0.1/hook",
    "http://0xa.0.0.1/hook",
    "http://3232235777/hook",  # 192.168.1.1
    "https://192.168.1.1:8443/hook",
    "http://[::]/hook",
]
BAD_FORMS = [
    ("ftp://93.184.216.34/x", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://93.184.216.34/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("http://user:pw@93.184.216.34/", "credentials"),
    ("http://93.184.216.34@127.0.0.1/", "credentials"),
    ("http:///nohost", "malformed"),
    ("http://93.184.216.34:99999/", "malformed"),
    ("http://[::1/", "malformed"),
    ("http://no-such-host.invalid/hook", "unresolvable"),
]


def reason_of(exc: AppError) -> str:
    return exc.extra["reason"]


class TestUrls:
    @pytest.mark.parametrize("url", SPELLINGS)
    async def test_every_spelling_of_an_inside_address_is_refused(self, url):
        with pytest.raises(WebhookUrlRefused) as refused:
            await safety.check(url)
        assert reason_of(refused.value) == "private_address"

    @pytest.mark.parametrize(("url", "reason"), BAD_FORMS)
    async def test_what_is_not_a_plain_http_url_is_refused(self, url, reason):
        with pytest.raises(WebhookUrlRefused) as refused:
            await safety.check(url)
        assert reason_of(refused.value) == reason

    async def test_a_public_address_is_accepted_and_pinned(self):
        target = await safety.check("https://93.184.216.34:8443/erp/in?x=1")
        assert target.pinned_url == "https://93.184.216.34:8443/erp/in?x=1"
        assert target.host_header == "93.184.216.34:8443"

    async def test_a_name_with_one_inside_address_among_public_ones_is_refused(self, monkeypatch):
        async def mixed(host, port):
            return ["93.184.216.34", "10.0.0.7"]

        monkeypatch.setattr(safety, "resolver", mixed)
        with pytest.raises(WebhookUrlRefused):
            await safety.check("https://erp.example.com/hook")

    async def test_a_pinned_name_keeps_its_host_header_and_connects_to_the_checked_address(self, monkeypatch):
        async def public(host, port):
            return ["2606:4700:4700::1111"]

        monkeypatch.setattr(safety, "resolver", public)
        target = await safety.check("https://erp.example.com/hook")
        assert target.pinned_url == "https://[2606:4700:4700::1111]:443/hook"
        assert target.host_header == "erp.example.com"

    @pytest.mark.usefixtures("allow_private")
    async def test_webhook_allow_private_lets_a_local_receiver_in(self):
        target = await safety.check("http://localhost:9/hook")
        assert target.address.is_loopback
