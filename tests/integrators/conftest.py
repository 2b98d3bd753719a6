"""Integrators' suite: a Python client generated from docs/openapi.yaml by openapi-python-client, installed in
a temporary venv, runs a real flow against a running shop. Minutes on a fresh machine (it installs the
generator from the package index), so the default run leaves it out: `INTEGRATOR_TESTS=1 pytest
tests/integrators -m integrators` (.ci/run does, after the main suites)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ENABLED = os.environ.get("INTEGRATOR_TESTS") == "1"
ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="integrators' suite: run with INTEGRATOR_TESTS=1 (see .ci/run)")
    for item in items:
        if "integrators" in item.keywords:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def running_shop() -> Iterator[str]:
    """uvicorn in a subprocess on the test database, as an integrator's system would reach the shop."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PUBLIC_BASE_URL=base_url, PYTHONPATH=str(ROOT))
    log_path = Path(os.environ["VAR_DIR"]) / "integrators-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"uvicorn exited early: {log_path.read_text(errors='replace')[-2000:]}"
                    )
                try:
                    if httpx.get(base_url + "/api/health", timeout=1).status_code in (200, 503):
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start within 30 s")
                time.sleep(0.2)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
