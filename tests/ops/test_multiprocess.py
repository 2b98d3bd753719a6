"""Login throttling holds across server processes: the counts live in Redis (when TEST_REDIS_URL is set)
or in the database, never in one process's memory."""

from __future__ import annotations

import asyncio

import httpx

from tests.ops.servers import Server
from tests.users.factories import DEFAULT_PASSWORD, create_user


class TestLoginThrottleAcrossProcesses:
    async def test_five_failures_spread_over_two_processes_lock_the_phone_on_both(
        self, servers: list[Server]
    ):
        user = await create_user()
        first, second = servers
        async with httpx.AsyncClient(timeout=10) as client:

            async def login(server: Server, password: str) -> httpx.Response:
                return await client.post(
                    f"{server.url}/api/auth/login", json={"phone": user.phone, "password": password}
                )

            for attempt in range(5):
                response = await login(servers[attempt % 2], "wrong-password")
                assert response.status_code == 401, response.text

            for server in (first, second):
                response = await login(server, "wrong-password")
                assert response.status_code == 429, f"{server.url}: {response.text}"
                assert response.json()["code"] == "too_many_attempts"
                assert 1 <= int(response.headers["retry-after"]) <= 60

            # Even the right password waits until the window has passed.
            response = await login(second, DEFAULT_PASSWORD)
            assert response.status_code == 429

    async def test_concurrent_failures_over_two_processes_stop_at_the_limit(self, servers: list[Server]):
        user = await create_user()
        async with httpx.AsyncClient(timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{servers[i % 2].url}/api/auth/login",
                        json={"phone": user.phone, "password": "wrong-password"},
                    )
                    for i in range(12)
                )
            )
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(401) <= 5 and statuses.count(429) >= 7, statuses
