"""The verdict judges scanners, not requests (issue 15): the cloned code turns suspicious, the genuine bag
scanned by a family, passed on as a gift or rescanned a month later stays genuine, and no single client can
make a genuine bag look fake however it sends its requests."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from app.config import get_settings
from app.db import get_engine, session_scope
from app.kit.time import shop_today
from app.traceability import scans
from app.traceability.models import TraceCode, TraceScan
from tests.traceability import factories as f
from tests.traceability.helpers import events_of, flush_scans


def phone(ip: str) -> httpx.AsyncClient:
    """A phone with its own cookie jar, reaching the shop from `ip`."""
    from app.main import app

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver"
    )


UA = {
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) MicroMessenger/8.0.49",
    "android": "Mozilla/5.0 (Linux; Android 14; V2309A) MicroMessenger/8.0.47",
    "huawei": "Mozilla/5.0 (Linux; HarmonyOS; ALN-AL00) AlipayClient/10.5",
}


async def a_code() -> str:
    [code] = await f.create_codes(await f.create_batch())
    return code


async def page_verdict(client: httpx.AsyncClient, code: str, ua: str) -> str:
    response = await client.get(f"/trace/{code}", headers={"User-Agent": ua})
    assert response.status_code == 200
    return "genuine" if 'data-verdict="genuine"' in response.text else "suspicious"


class TestClonedCode:
    async def test_one_code_copied_onto_bags_scanned_across_the_country_turns_suspicious(self):
        code = await a_code()
        cities = [f"{a}.{b}.7.20" for a, b in [(36, 1), (58, 2), (61, 3), (101, 4), (112, 5), (117, 6)]]
        cities += [f"{a}.{b}.9.33" for a, b in [(120, 7), (123, 8), (183, 9), (202, 10), (211, 11)]]
        verdicts = []
        for n, ip in enumerate(cities):
            async with phone(ip) as buyer:
                verdicts.append(await page_verdict(buyer, code, UA["android"] if n % 2 else UA["iphone"]))
        assert verdicts == ["genuine"] * 10 + ["suspicious"]
        async with phone("36.1.7.20") as first_buyer:
            html = (await first_buyer.get(f"/trace/{code}", headers={"User-Agent": UA["iphone"]})).text
        assert "11 个不同的设备或网络扫描" in html and "可能被复制" in html
        flagged = await events_of("trace_code.flagged")
        assert len(flagged) == 1 and flagged[0]["reasons"] == ["scanned_too_widely"]
        async with phone("36.1.7.20") as api_user:
            body = (await api_user.get(f"/api/trace/{code}", headers={"User-Agent": UA["iphone"]})).json()
        assert body["verdict"] == "suspicious" and body["scanner_count"] == 11

    async def test_clones_scanned_through_the_api_from_many_networks(self):
        code = await a_code()
        for i in range(11):
            async with phone(f"2001:db8:{i + 1}::5") as scanner:
                body = (
                    await scanner.get(f"/api/trace/{code}", headers={"User-Agent": "ScannerApp/2"})
                ).json()
        assert body["verdict"] == "suspicious" and body["reasons"] == ["scanned_too_widely"]


class TestGenuineBagsStayGenuine:
    async def test_a_family_scanning_at_home_again_and_again(self):
        code = await a_code()
        family = [("192.0.2.10", UA["iphone"]), ("192.0.2.11", UA["android"]), ("192.0.2.12", UA["huawei"])]
        family += [("192.0.2.13", UA["iphone"] + " grandma"), ("192.0.2.14", UA["android"] + " kid")]
        for _ in range(8):
            for ip, ua in family:
                async with phone(ip) as member:
                    assert await page_verdict(member, code, ua) == "genuine"
        async with phone("192.0.2.10") as member:
            body = (await member.get(f"/api/trace/{code}", headers={"User-Agent": UA["iphone"]})).json()
        assert body["verdict"] == "genuine" and body["scan_count"] == 41 and body["scanner_count"] == 5

    async def test_a_gift_passed_on_to_another_family_in_another_city(self):
        code = await a_code()
        for ip, ua in [("192.0.2.10", UA["iphone"]), ("192.0.2.11", UA["android"])]:  # the buyer's home
            async with phone(ip) as member:
                for _ in range(3):
                    assert await page_verdict(member, code, ua) == "genuine"
        for ip, ua in [
            ("198.51.100.40", UA["huawei"]),
            ("198.51.100.41", UA["iphone"]),
            ("100.64.3.9", UA["android"]),
        ]:
            async with phone(ip) as member:  # the recipients, at home and on mobile data
                for _ in range(3):
                    assert await page_verdict(member, code, ua) == "genuine"

    async def test_a_buyer_rescanning_a_month_later_from_another_network_is_still_one_scanner(self):
        code = await a_code()
        async with phone("192.0.2.10") as at_home:
            assert await page_verdict(at_home, code, UA["iphone"]) == "genuine"
            cookies = at_home.cookies
        # A month later, on mobile data, after a WeChat update changed the User-Agent: the same device.
        async with phone("117.136.5.5") as on_the_road:
            on_the_road.cookies = cookies
            assert await page_verdict(on_the_road, code, UA["iphone"] + " 8.0.50") == "genuine"
            html = (await on_the_road.get(f"/trace/{code}", headers={"User-Agent": "whatever"})).text
        assert "1 个（同一设备反复扫描只算一个）" in html and "3 次" in html

    async def test_past_best_before_is_still_said_whoever_scans(self):
        batch = await f.create_batch(best_before_on=shop_today() - timedelta(days=1))
        [code] = await f.create_codes(batch)
        async with phone("192.0.2.1") as buyer:
            body = (await buyer.get(f"/api/trace/{code}")).json()
        assert body["verdict"] == "suspicious" and body["reasons"] == ["past_best_before"]


class TestOneClientCannotMakeAGenuineBagLookFake:
    @pytest.mark.parametrize("burst", [21, 60])
    async def test_a_burst_of_requests_from_one_client(self, burst):
        code = await a_code()
        async with phone("203.0.113.66") as attacker:
            responses = await asyncio.gather(
                *(
                    attacker.get(f"/api/trace/{code}", headers={"User-Agent": "curl/8.5"})
                    for _ in range(burst)
                )
            )
        assert {r.json()["verdict"] for r in responses} == {"genuine"}
        assert sorted(r.json()["scan_count"] for r in responses) == list(range(1, burst + 1))
        assert {r.json()["scanner_count"] for r in responses} == {1}
        assert await events_of("trace_code.flagged") == []

    async def test_dropping_the_cookie_on_every_page_request(self):
        code = await a_code()
        for _ in range(25):
            async with phone("203.0.113.66") as fresh_browser:
                assert await page_verdict(fresh_browser, code, UA["android"]) == "genuine"
        async with phone("203.0.113.66") as api_user:
            body = (await api_user.get(f"/api/trace/{code}", headers={"User-Agent": UA["android"]})).json()
        assert body["scanner_count"] == 1

    @pytest.mark.parametrize(
        "forged",
        [
            "0123456789abcdef.0123456789abcdef",
            "{n:016x}.{n:016x}",
            "{n:016x}",
            "../../etc/passwd",
            "' OR 1=1 --",
            "A" * 4000,
        ],
    )
    async def test_forged_device_cookies_count_as_the_network(self, forged):
        code = await a_code()
        for n in range(15):
            async with phone("203.0.113.66") as attacker:
                attacker.cookies.set(scans.DEVICE_COOKIE, forged.format(n=n), path="/trace")
                assert await page_verdict(attacker, code, "curl/8.5") == "genuine"
        async with phone("203.0.113.66") as api_user:
            body = (await api_user.get(f"/api/trace/{code}", headers={"User-Agent": "curl/8.5"})).json()
        assert body["scanner_count"] == 1

    async def test_a_device_cookie_is_valid_only_as_we_signed_it(self):
        cookie = scans.device_cookie("0123456789abcdef")
        assert scans.scanner_from_cookie(cookie) == "0123456789abcdef"
        tampered = "1123456789abcdef" + cookie[16:]
        assert scans.scanner_from_cookie(tampered) is None
        assert scans.scanner_from_cookie(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None


class TestStaffSeeTheRawHistory:
    async def test_every_scan_with_network_user_agent_and_scanner(self, client):
        from app.users.models import Role
        from tests.users.factories import auth, create_user

        code = await a_code()
        for ua in ("A", "B", "A"):
            await client.get(f"/api/trace/{code}", headers={"User-Agent": ua})
        await flush_scans()
        staff = auth(await create_user(role=Role.merchant))
        page = (await client.get(f"/api/admin/trace-codes/{code}/scans", headers=staff)).json()
        assert page["total"] == 3
        assert [s["user_agent"] for s in page["items"]] == ["A", "B", "A"][::-1]
        assert {s["client_network"] for s in page["items"]} == {"203.0.113.0/24"}
        assert len({s["scanner"] for s in page["items"]}) == 2
        customer = auth(await create_user())
        assert (await client.get(f"/api/admin/trace-codes/{code}/scans", headers=customer)).status_code == 403


def _migration():
    path = next((Path(__file__).resolve().parents[2] / "alembic" / "versions").glob("*_trace_scanners.py"))
    spec = importlib.util.spec_from_file_location("trace_scanners_migration", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class TestOldFlagsAreJudgedAgain:
    async def test_flags_of_the_request_rule_are_cleared_unless_a_new_reason_holds(self):
        batch = await f.create_batch()
        old_batch = await f.create_batch(best_before_on=shop_today() - timedelta(days=3))
        hammered, cloned, revoked = await f.create_codes(batch, 3)
        [expired] = await f.create_codes(old_batch)
        now = scans.utcnow()
        rows = [(hammered, "203.0.113.0/24", "curl")] * 25  # one client, 25 requests: the old rule flagged it
        rows += [(cloned, f"10.{i}.0.0/24", "WeChat") for i in range(12)]
        rows += [(revoked, "203.0.113.0/24", "curl")] * 21 + [(expired, "203.0.113.0/24", "curl")] * 21
        async with session_scope() as session:
            ids = {c.code: c.id for c in (await session.execute(select(TraceCode))).scalars()}
            for code, network, ua in rows:
                session.add(
                    TraceScan(code_id=ids[code], scanned_at=now, client_network=network, user_agent=ua)
                )
            await session.execute(update(TraceCode).values(flagged_at=now, scan_count=21))
            await session.execute(update(TraceCode).where(TraceCode.code == revoked).values(revoked_at=now))
            # What the database looked like before the migration: no scanners recorded.
            await session.execute(update(TraceCode).values(scanner_count=0))
        await session_scope_delete_scanners()
        migration = _migration()
        async with get_engine().begin() as conn:
            await conn.run_sync(migration.rebuild_scanners)
            cleared = await conn.run_sync(lambda c: migration.rejudge_flags(c, 10))
        assert cleared == 1
        state = {c: await f.get_code(c) for c in (hammered, cloned, revoked, expired)}
        assert state[hammered].flagged_at is None and state[hammered].scanner_count == 1
        assert state[cloned].flagged_at is not None and state[cloned].scanner_count == 12
        assert state[revoked].flagged_at is not None and state[expired].flagged_at is not None
        # ...and the bag that was only hammered answers genuine again.
        async with phone("192.0.2.1") as buyer:
            body = (await buyer.get(f"/api/trace/{hammered}")).json()
        assert body["verdict"] == "genuine" and body["scanner_count"] == 2


async def session_scope_delete_scanners() -> None:
    from sqlalchemy import delete

    from app.traceability.models import TraceCodeScanner

    async with session_scope() as session:
        await session.execute(delete(TraceCodeScanner))


def test_settings_default():
    assert get_settings().trace_suspicious_scanners == 10


class TestTheStoryIsCachedAndCurrent:
    async def test_a_warm_scan_reads_no_part_of_the_story_from_the_database(self, client):
        from sqlalchemy import event

        from app.db import get_engine

        code = await a_code()
        await client.get(f"/api/trace/{code}")
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement.lower())

        engine = get_engine().sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert (await client.get(f"/api/trace/{code}")).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        story_tables = (
            "from batches",
            "from products",
            "from producers",
            "from plots",
            "batch_events",
            "certificates",
        )
        assert not [s for s in statements if any(t in s for t in story_tables)], statements

    async def test_a_staff_change_shows_at_the_next_scan(self, client):
        from app.users.models import Role
        from tests.users.factories import auth, create_user

        staff = auth(await create_user(role=Role.merchant))
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        assert (await client.get(f"/api/trace/{code}")).json()["batch"]["events"] == []
        await client.post(
            f"/api/admin/batches/{batch.id}/events",
            json={"type": "milled", "occurred_at": "2026-10-01T08:00:00+08:00", "location": "五常加工厂"},
            headers=staff,
        )
        await client.post(
            "/api/admin/certificates",
            json={
                "kind": "organic",
                "number": "OG-1",
                "issuer": "中绿华夏",
                "valid_from": "2026-01-01",
                "valid_until": "2030-01-01",
                "batch_id": batch.id,
            },
            headers=staff,
        )
        body = (await client.get(f"/api/trace/{code}")).json()
        assert [e["location"] for e in body["batch"]["events"]] == ["五常加工厂"]
        assert [c["number"] for c in body["certificates"]] == ["OG-1"]
