"""The original description's development helpers: the Docker Compose override (bind mount + reload), the quick
start (migrations, then the shop reloading on changes) and the smoke test that serves the checkout itself."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_override_bind_mounts_the_code_and_reloads():
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    override = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())
    assert set(override["services"]) <= set(base["services"])  # it only overrides services that exist
    app = override["services"]["app"]
    assert "./app:/app/app" in app["volumes"]
    assert "--reload" in " ".join(app["command"])
    assert "migrate" in " ".join(app["command"])  # the dev container still migrates first
    assert "./app:/app/app" in override["services"]["worker"]["volumes"]


def test_every_shell_script_has_its_powershell_twin():
    for script in ["start", "stop", "status", "quick-start"]:
        assert (ROOT / f"{script}.sh").exists() and (ROOT / f"{script}.ps1").exists(), script
    for script in ["feature_finish", "release_to_main", "smoke_test", "bootstrap"]:
        assert (ROOT / "scripts" / f"{script}.sh").exists() and (ROOT / "scripts" / f"{script}.ps1").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_quick_start_migrates_and_serves_with_reload(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/quick.db",
        "VAR_DIR": str(tmp_path / "var"),
        "APP_ENV": "dev",
    }
    process = subprocess.Popen(
        ["bash", str(ROOT / "quick-start.sh"), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        answer = None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200, "quick-start.sh did not serve within 90 s"
        assert answer.json()["database"] == "ok"
        products = httpx.get(f"http://127.0.0.1:{port}/api/products", timeout=5)
        assert products.status_code == 200 and products.json()["total"] == 0  # migrated, and no demo data
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def test_the_smoke_test_serves_this_checkout_by_itself():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "smoke_test.sh"), "--serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "冒烟测试通过" in result.stdout
