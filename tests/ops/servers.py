"""Real server processes for the operations tests: `daoxiang serve` on a free loopback port, using the
test database (and Redis) that tests/conftest.py put in the environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LOG_LEVEL", "WARNING")
    env.update(overrides)
    return env


def run_cli(*args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess[str]:
    """`daoxiang <args>` in a fresh process, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=PROJECT_ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_servers(count: int, log_dir: Path, *args: str, **env: str) -> list[Server]:
    """Start `count` servers at once and wait until each answers /api/health. `args`: more options of
    `daoxiang serve`; `env`: more environment."""
    servers = []
    for i in range(count):
        port = free_port()
        log = log_dir / f"server-{i}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                cwd=PROJECT_ROOT,
                env=cli_env(**{"LOG_LEVEL": "INFO", **env}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        servers.append(Server(process, f"http://127.0.0.1:{port}", log))
    # Generous: on a busy 2-core machine (CI, or several test runs at once) a cold start can be slow.
    deadline = time.monotonic() + 120
    try:
        for server in servers:
            last = "no answer yet"
            while True:
                if server.process.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{server.log.read_text()[-2000:]}")
                try:
                    response = httpx.get(server.url + "/api/health", timeout=5)
                    if response.status_code == 200:
                        break
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{server.url} did not answer (last: {last}):\n{server.log.read_text()[-2000:]}"
                    )
                time.sleep(0.2)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers
