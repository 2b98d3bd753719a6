"""What the fault drills break and measure: real server and worker processes (killed with SIGKILL), a private
Redis and a private MariaDB (own data directory and port under a temporary directory, started and stopped by
the drill), and a small load generator that counts every answer by kind."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.config import PROJECT_ROOT
from tests.ops.servers import cli_env, free_port


def _wait(check, what: str, timeout: float, log: Path | None = None) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} within {timeout:.0f} s\n{tail}")
        time.sleep(0.05)
    return time.monotonic() - started


# ------------------------------------------------------------------------------------------ processes


@dataclass
class Process:
    """`daoxiang serve` or `daoxiang worker`, restartable on the same port, killable with SIGKILL."""

    args: list[str]
    log: Path
    env: dict[str, str]
    port: int | None = None
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> float:
        """Start it; for a server, wait until /api/health answers (any status). Returns seconds taken."""
        started = time.monotonic()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *self.args],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        if wait and self.port is not None:

            def answers() -> bool:
                if self.process.poll() is not None:
                    raise RuntimeError(f"exited early:\n{self.log.read_text(errors='replace')[-3000:]}")
                try:
                    httpx.get(self.url + "/api/health", timeout=2)
                    return True
                except httpx.HTTPError:
                    return False

            _wait(answers, f"{self.url} did not answer", 120, self.log)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finishing of requests or transactions."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# The drills' few customers keep placing orders they never pay: the per-customer unpaid limits (issue 13's
# stock-hostage guard) would refuse them after three, which is not the fault being drilled.
DRILL_LIMITS = {"MAX_UNPAID_ORDERS_PER_CUSTOMER": "1000000", "MAX_UNPAID_UNITS_PER_SKU": "1000000"}


def server(log_dir: Path, name: str = "server", **env: str) -> Process:
    port = free_port()
    return Process(
        ["serve", "--host", "127.0.0.1", "--port", str(port)],
        log_dir / f"{name}.log",
        cli_env(LOG_LEVEL="WARNING", **{**DRILL_LIMITS, **env}),
        port=port,
    )


def worker(log_dir: Path, name: str = "worker", **env: str) -> Process:
    return Process(
        ["worker", "--interval", "1"],
        log_dir / f"{name}.log",
        cli_env(LOG_LEVEL="WARNING", EVENT_RELAY_POLL_SECONDS="0.05", **env),
    )


# ------------------------------------------------------------------------------------ private servers


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self._answers, "the private Redis did not start", 20)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class PrivateMariaDB:
    """A MariaDB of the drill's own: data directory under `directory`, its own port and socket, run as the
    current user. Stopping it (SIGTERM: a clean shutdown) and starting it again keeps the data."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.datadir = directory / "data"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = directory / "mariadb.log"

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mariadb-install-db")) and os.access("/usr/sbin/mariadbd", os.X_OK)

    def url(self, database: str = "daoxiang") -> str:
        return f"mysql+pymysql://root:@127.0.0.1:{self.port}/{database}"

    def install(self) -> None:
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root" if os.geteuid() == 0 else f"--user={os.environ.get('USER', 'root')}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> float:
        started = time.monotonic()
        args = [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.directory / 'mariadb.sock'}",
            f"--pid-file={self.directory / 'mariadb.pid'}",
            f"--log-error={self.log}",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=500",
            "--skip-log-bin",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self.answers, "the private MariaDB did not start", 60, self.log)
        return time.monotonic() - started

    def answers(self) -> bool:
        import pymysql

        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
            return True
        except pymysql.MySQLError:
            return False

    def execute(self, sql: str) -> None:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


# ------------------------------------------------------------------------------------------------ load


@dataclass
class Tally:
    """Answers by kind, with when each came (seconds since the drill's start)."""

    started: float = field(default_factory=time.monotonic)
    kinds: Counter = field(default_factory=Counter)
    events: list[tuple[float, float, str, str]] = field(default_factory=list)  # (sent, answered, what, kind)

    def now(self) -> float:
        return time.monotonic() - self.started

    def record(self, sent: float, what: str, kind: str) -> None:
        self.kinds[f"{what} {kind}"] += 1
        self.events.append((sent, self.now(), what, kind))

    def kinds_between(self, start: float, end: float, *, by: str = "sent") -> Counter:
        index = 0 if by == "sent" else 1
        return Counter(f"{e[2]} {e[3]}" for e in self.events if start <= e[index] < end)


def kind_of(response: httpx.Response | BaseException) -> str:
    if isinstance(response, BaseException):
        return f"connection error ({type(response).__name__})"
    code = ""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = " " + str(response.json().get("code"))
    return f"{response.status_code}{code}"


async def request(
    client: httpx.AsyncClient, tally: Tally, what: str, method: str, url: str, **kwargs
) -> httpx.Response | None:
    sent = tally.now()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        tally.record(sent, what, kind_of(exc))
        return None
    tally.record(sent, what, kind_of(response))
    return response


async def until(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def report(title: str, **figures: object) -> None:
    """Each drill prints its figures (pytest -s shows them; CI runs the drills that way)."""
    print(f"\n=== drill: {title}")
    for name, value in figures.items():
        if isinstance(value, Counter):
            value = ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) or "none"
        elif isinstance(value, float):
            value = f"{value:.2f}"
        print(f"  {name.replace('_', ' ')}: {value}")
