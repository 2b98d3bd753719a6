"""`daoxiang status`, `smoke`, `start` and `stop`, run as an operator runs them: in their own processes,
against real servers on the test database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from app.db import session_scope
from app.users.models import User
from tests.conftest import HAS_REDIS
from tests.ops.servers import Server, free_port, run_cli


class TestStatus:
    def test_a_healthy_shop_exits_zero(self, live_server: Server):
        result = run_cli("status", "--base-url", live_server.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"✓ server    {live_server.url}" in result.stdout
        assert "✓ database" in result.stdout and "迁移已到最新" in result.stdout

    def test_a_server_that_does_not_answer_exits_non_zero(self):
        url = f"http://127.0.0.1:{free_port()}"
        result = run_cli("status", "--base-url", url)
        assert result.returncode == 1
        assert f"✗ server    {url} 无响应" in result.stdout
        assert "✓ database" in result.stdout

    def test_redis_down_exits_non_zero(self, live_server: Server):
        result = run_cli("status", "--base-url", live_server.url, REDIS_URL="redis://127.0.0.1:1/0")
        assert result.returncode == 1
        assert "✗ redis     无法连接" in result.stdout

    def test_a_database_behind_its_migrations_exits_non_zero(self, live_server: Server, tmp_path: Path):
        empty = tmp_path / "empty.db"
        result = run_cli("status", "--base-url", live_server.url, DATABASE_URL=f"sqlite:///{empty}")
        assert result.returncode == 1
        assert "✗ database" in result.stdout and "尚未迁移" in result.stdout

    def test_an_unreachable_database_exits_non_zero(self, live_server: Server):
        result = run_cli(
            "status",
            "--base-url",
            live_server.url,
            DATABASE_URL="mysql+pymysql://root:@127.0.0.1:1/nothing",
        )
        assert result.returncode == 1
        assert "✗ database" in result.stdout and "无法连接" in result.stdout


class TestSmoke:
    async def test_passes_against_a_running_server_and_prints_each_step(self, live_server: Server):
        result = run_cli("smoke", "--base-url", live_server.url)
        assert result.returncode == 0, result.stdout + result.stderr
        for step in ("GET  /api/health", "POST /api/users", "POST /api/auth/login", "GET  /api/users/me"):
            assert f"✓ {step}" in result.stdout
        assert "冒烟测试通过" in result.stdout
        async with session_scope() as session:
            users = (await session.scalars(select(User).where(User.nickname == "冒烟测试"))).all()
        assert len(users) == 1 and users[0].phone.startswith("17")

    def test_fails_with_non_zero_exit_when_nothing_answers(self):
        result = run_cli("smoke", "--base-url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
        assert result.returncode == 1
        assert "✗ GET  /api/health" in result.stdout and "冒烟测试失败" in result.stdout


class TestStartStop:
    def test_start_serves_refuses_a_second_start_and_stop_cleans_up(self, tmp_path: Path):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = run_cli("start", "--port", str(port), "--wait", "180", VAR_DIR=str(tmp_path))
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            for shown in (f"{url}/docs", f"{url}/redoc", f"{url}/api/health", "13800000000 / demo-pass-2026"):
                assert shown in started.stdout
            assert httpx.get(f"{url}/api/health", timeout=5).json()["database"] == "ok"
            server_pid = json.loads((tmp_path / "server.pid").read_text())["pid"]
            assert (tmp_path / "worker.pid").exists()
            # The event consumer runs where there is a stream to consume (Redis configured).
            assert (tmp_path / "consumer.pid").exists() is HAS_REDIS

            again = run_cli("start", "--port", str(port), VAR_DIR=str(tmp_path))
            assert again.returncode == 1 and "已在运行" in again.stdout

            status = run_cli("status", VAR_DIR=str(tmp_path))
            assert status.returncode == 0, status.stdout
            assert f"pid {server_pid}" in status.stdout and "✓ worker" in status.stdout
            assert ("✓ consumer" in status.stdout) is HAS_REDIS
        finally:
            stopped = run_cli("stop", VAR_DIR=str(tmp_path))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not any((tmp_path / f"{name}.pid").exists() for name in ("server", "worker", "consumer"))
        try:
            httpx.get(f"{url}/api/health", timeout=2)
            raise AssertionError("the server still answers after stop")
        except httpx.ConnectError:
            pass

    def test_with_a_metrics_token_the_servers_metrics_show_the_workers_jobs(self, tmp_path: Path):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        token = {"Authorization": "Bearer start-metrics-token"}
        started = run_cli(
            "start",
            "--port",
            str(port),
            "--wait",
            "180",
            VAR_DIR=str(tmp_path),
            METRICS_TOKEN="start-metrics-token",
        )
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            deadline = time.monotonic() + 60
            while 'daoxiang_job_runs_total{job="orders.cancel_unpaid"}' not in (
                text := httpx.get(f"{url}/metrics", headers=token, timeout=5).text
            ):
                assert time.monotonic() < deadline, text[-2000:]
                time.sleep(0.5)
            assert any((tmp_path / "metrics").glob("*.db"))
        finally:
            stopped = run_cli("stop", VAR_DIR=str(tmp_path))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    def test_start_refuses_a_port_another_program_holds(self, live_server: Server, tmp_path: Path):
        port = live_server.url.rsplit(":", 1)[1]
        result = run_cli("start", "--port", port, VAR_DIR=str(tmp_path))
        assert result.returncode == 1
        assert "已被其他程序占用" in result.stderr
        assert not (tmp_path / "server.pid").exists()

    def test_stop_cleans_a_stale_pid_file(self, tmp_path: Path):
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        (tmp_path / "server.pid").write_text(json.dumps({"pid": int(gone.stdout)}))
        result = run_cli("stop", VAR_DIR=str(tmp_path))
        assert result.returncode == 0
        assert "过期的 pid 文件" in result.stdout
        assert not (tmp_path / "server.pid").exists()
