"""Background processes started by `daoxiang start`: pid files, spawning, stopping, health probes.

Background processes are plain subprocesses (a new session on POSIX, a new process group without a
console window on Windows); their pid files and logs live under VAR_DIR (default ./var).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from app.config import PROJECT_ROOT, get_settings

IS_WINDOWS = os.name == "nt"
LOG_ROTATE_BYTES = 20 * 1_048_576


@dataclass
class Service:
    """A background process started by `daoxiang start`: its pid file and log under VAR_DIR."""

    name: str  # "server", "worker" or "consumer"

    @property
    def pid_file(self) -> Path:
        return get_settings().var_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return get_settings().var_dir / f"{self.name}.log"

    def read(self) -> dict | None:
        try:
            data = json.loads(self.pid_file.read_text(encoding="utf-8"))
            int(data["pid"])
            return data
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            return {"pid": -1}  # unreadable: treated as stale

    def write(self, **data: object) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(json.dumps(data), encoding="utf-8")

    def remove(self) -> None:
        self.pid_file.unlink(missing_ok=True)

    def running_pid(self) -> int | None:
        """The pid when the pid file names a live process of ours; None otherwise."""
        data = self.read()
        if not data:
            return None
        pid = int(data["pid"])
        return pid if pid > 0 and pid_alive(pid) else None


SERVER = Service("server")
WORKER = Service("worker")
CONSUMER = Service("consumer")  # `daoxiang consume`: domain events → notifications (needs Redis)


def pid_alive(pid: int) -> bool:
    if IS_WINDOWS:
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    return True


def _windows_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    process_query_limited_information = 0x1000
    still_active = 259
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def spawn(service: Service, args: list[str]) -> subprocess.Popen:
    """Start `python -m app.cli <args>` detached from this terminal, output appended to its log."""
    log_file = service.log_file
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if log_file.exists() and log_file.stat().st_size > LOG_ROTATE_BYTES:
        log_file.replace(log_file.with_suffix(".log.1"))
    kwargs: dict = {}
    if IS_WINDOWS:  # pragma: no cover - Windows only
        kwargs["creationflags"] = (
            subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined]
        )
    else:
        kwargs["start_new_session"] = True
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **kwargs,
        )


def terminate(pid: int, timeout: float) -> bool:
    """Ask politely (SIGTERM / CTRL_BREAK), then kill after `timeout` seconds. True when it was killed."""
    try:
        if IS_WINDOWS:  # pragma: no cover - Windows only
            # A console event reaches the server only when it shares our console (a foreground start);
            # a background one has its own hidden console, so do not wait long before taskkill.
            os.kill(pid, signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
            timeout = min(timeout, 5.0)
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, OSError):
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return False
        time.sleep(0.1)
    if IS_WINDOWS:  # pragma: no cover - Windows only
        subprocess.run(["taskkill", "/PID", str(pid), "/T", "/F"], capture_output=True, check=False)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)  # the whole session: uvicorn workers too
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def port_in_use(host: str, port: int) -> bool:
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((probe_host, port), timeout=0.5):
            return True
    except OSError:
        return False


def local_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def fetch_health(base_url: str, timeout: float = 2.0) -> tuple[int, dict] | None:
    """(status code, body) of GET /api/health, or None when nothing answers."""
    import httpx

    try:
        response = httpx.get(base_url.rstrip("/") + "/api/health", timeout=timeout)
        return response.status_code, response.json()
    except (httpx.HTTPError, ValueError):
        return None


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def echo_ok(label: str, text: str) -> None:
    typer.echo(f"  {typer.style('✓', fg='green')} {label:<9} {text}")


def echo_bad(label: str, text: str) -> None:
    typer.echo(f"  {typer.style('✗', fg='red')} {label:<9} {text}")


def echo_note(label: str, text: str) -> None:
    typer.echo(f"  {typer.style('-', fg='yellow')} {label:<9} {text}")


def spawn_attached(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=PROJECT_ROOT)
