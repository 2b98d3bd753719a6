from tests.conftest import HAS_REDIS


class TestHealth:
    async def test_reports_database_and_redis(self, client):
        response = await client.get("/api/health")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "database": "ok",
            "redis": "ok" if HAS_REDIS else "disabled",
        }
        assert len(response.headers["x-request-id"]) >= 16

    async def test_keeps_a_sane_incoming_request_id(self, client):
        response = await client.get("/api/health", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
        response = await client.get("/api/health", headers={"X-Request-ID": "bad id\twith spaces"})
        assert response.headers["x-request-id"] != "bad id\twith spaces"


class TestErrors:
    async def test_unknown_route_is_problem_404(self, client):
        response = await client.get("/api/nope")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "not_found"

    async def test_wrong_method_is_problem_405(self, client):
        response = await client.delete("/api/health")
        assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"

    async def test_oversized_body_is_413(self, client):
        response = await client.post(
            "/api/users", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
