"""Operator commands: `daoxiang start`, `stop`, `status`, `smoke`.

The shell and PowerShell scripts are thin wrappers over these, so Linux and Windows behave the same.
Background processes are plain subprocesses (a new session on POSIX, a new process group without a
console window on Windows); their pid files and logs live under VAR_DIR (default ./var).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from app.config import PROJECT_ROOT, get_settings

IS_WINDOWS = os.name == "nt"
LOG_ROTATE_BYTES = 20 * 1_048_576


# --------------------------------------------------------------------------- processes and pid files


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


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _echo_ok(label: str, text: str) -> None:
    typer.echo(f"  {typer.style('✓', fg='green')} {label:<9} {text}")


def _echo_bad(label: str, text: str) -> None:
    typer.echo(f"  {typer.style('✗', fg='red')} {label:<9} {text}")


def _echo_note(label: str, text: str) -> None:
    typer.echo(f"  {typer.style('-', fg='yellow')} {label:<9} {text}")


# --------------------------------------------------------------------------- start / stop


def _prepare_database() -> None:
    from alembic import command

    from app.cli import _with_cleanup, alembic_config
    from app.seed import seed_demo

    typer.echo("• 数据库迁移 (alembic upgrade head) …")
    command.upgrade(alembic_config(), "head")
    typer.echo("• 加载演示数据 (seed-demo) …")
    asyncio.run(_with_cleanup(seed_demo()))


def _print_welcome(base_url: str) -> None:
    from app.users.seed import (
        DEMO_ADMIN_PASSWORD,
        DEMO_ADMIN_PHONE,
        DEMO_CUSTOMER_PASSWORD,
        DEMO_CUSTOMER_PHONE,
    )

    typer.echo("")
    typer.echo(typer.style("稻香 Daoxiang 已启动", fg="green", bold=True))
    typer.echo(f"  应用首页:   {base_url}/")
    typer.echo(f"  API 文档:   {base_url}/docs")
    typer.echo(f"  ReDoc 文档: {base_url}/redoc")
    typer.echo(f"  健康检查:   {base_url}/api/health")
    typer.echo("演示账号:")
    typer.echo(f"  顾客   {DEMO_CUSTOMER_PHONE} / {DEMO_CUSTOMER_PASSWORD}")
    if get_settings().app_env != "prod":
        typer.echo(f"  管理员 {DEMO_ADMIN_PHONE} / {DEMO_ADMIN_PASSWORD}")


def start(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    foreground: Annotated[bool, typer.Option(help="stay attached (logs to this terminal)")] = False,
    worker: Annotated[
        bool,
        typer.Option(
            help="also run the background job worker (order timeouts, …) and, with Redis, the event consumer"
        ),
    ] = True,
    wait: Annotated[float, typer.Option(help="seconds to wait for /api/health")] = 60.0,
) -> None:
    """Migrate, load the demo data, then serve (in the background unless --foreground)."""
    running = SERVER.running_pid()
    if running:
        url = (SERVER.read() or {}).get("url", "")
        typer.echo(f"稻香已在运行 (pid {running}) {url} — 如需重启请先执行 ./stop.sh (daoxiang stop)。")
        raise typer.Exit(1)
    if SERVER.read() is not None:
        typer.echo("清理过期的 pid 文件。")
        SERVER.remove()
    if port_in_use(host, port):
        typer.echo(f"端口 {port} 已被其他程序占用：请停止它，或换一个端口 (--port)。", err=True)
        raise typer.Exit(1)

    _prepare_database()
    base_url = local_url(host, port)
    serve_args = ["serve", "--host", host, "--port", str(port)]

    if foreground:
        _start_worker_if_asked(worker)
        _print_welcome(base_url)
        typer.echo("(前台运行，Ctrl+C 停止)")
        server = spawn_attached(serve_args)
        SERVER.write(pid=server.pid, url=base_url, foreground=True)
        try:
            code = server.wait()
        except KeyboardInterrupt:
            code = _wait_after_interrupt(server)
        finally:
            SERVER.remove()
            _stop_service(WORKER, timeout=10, quiet=True)
            _stop_service(CONSUMER, timeout=10, quiet=True)
        raise typer.Exit(code)

    process = spawn(SERVER, serve_args)
    SERVER.write(pid=process.pid, url=base_url)
    typer.echo(f"• 启动服务 (pid {process.pid})，日志: {SERVER.log_file}")
    deadline = time.monotonic() + wait
    while True:
        if process.poll() is not None:
            SERVER.remove()
            typer.echo(f"服务启动失败 (退出码 {process.returncode})。日志末尾:", err=True)
            typer.echo(_tail(SERVER.log_file), err=True)
            raise typer.Exit(1)
        answer = fetch_health(base_url, timeout=1.0)
        if answer is not None:
            break
        if time.monotonic() > deadline:
            typer.echo(f"{wait:.0f} 秒内 {base_url}/api/health 无响应。日志末尾:", err=True)
            typer.echo(_tail(SERVER.log_file), err=True)
            terminate(process.pid, timeout=5)
            SERVER.remove()
            raise typer.Exit(1)
        time.sleep(0.2)
    _start_worker_if_asked(worker)
    _print_welcome(base_url)
    typer.echo(f"日志: {SERVER.log_file}   停止: ./stop.sh   状态: ./status.sh")


def spawn_attached(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=PROJECT_ROOT)


def _wait_after_interrupt(process: subprocess.Popen) -> int:
    # In a terminal the child got the same Ctrl+C and is shutting down; otherwise ask it ourselves.
    for _ in range(2):
        try:
            return process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            terminate(process.pid, timeout=10)
        except KeyboardInterrupt:
            terminate(process.pid, timeout=1)
    return process.wait()


def _start_worker_if_asked(enabled: bool) -> None:
    if not enabled:
        return
    pid = WORKER.running_pid()
    if pid:
        typer.echo(f"• 后台任务 worker 已在运行 (pid {pid})")
    else:
        process = spawn(WORKER, ["worker"])
        WORKER.write(pid=process.pid)
        typer.echo(f"• 启动后台任务 worker (pid {process.pid})，日志: {WORKER.log_file}")
    if not get_settings().redis_url:
        return  # events stay in the outbox until Redis is configured; there is nothing to consume
    pid = CONSUMER.running_pid()
    if pid:
        typer.echo(f"• 事件消费者已在运行 (pid {pid})")
        return
    process = spawn(CONSUMER, ["consume"])
    CONSUMER.write(pid=process.pid)
    typer.echo(f"• 启动事件消费者 (pid {process.pid})，日志: {CONSUMER.log_file}")


def _stop_service(service: Service, timeout: float, quiet: bool = False) -> str:
    data = service.read()
    if data is None:
        return "not running"
    pid = int(data["pid"])
    if pid <= 0 or not pid_alive(pid):
        service.remove()
        if not quiet:
            typer.echo(f"{service.name}: 未运行，已清理过期的 pid 文件 {service.pid_file}")
        return "stale"
    if not quiet:
        typer.echo(f"{service.name}: 正在停止 (pid {pid}) …")
    killed = terminate(pid, timeout)
    service.remove()
    if not quiet:
        typer.echo(f"{service.name}: 已{'强制结束' if killed else '停止'}")
    return "killed" if killed else "stopped"


def stop(
    timeout: Annotated[float, typer.Option(help="seconds to wait before killing")] = 15.0,
) -> None:
    """Stop the background server, worker and event consumer: gracefully, then kill after a timeout."""
    results = [
        _stop_service(SERVER, timeout),
        _stop_service(WORKER, timeout),
        _stop_service(CONSUMER, timeout),
    ]
    if all(r == "not running" for r in results):
        typer.echo("稻香未在运行 (没有 pid 文件)。")


# --------------------------------------------------------------------------- status


async def database_state() -> tuple[bool, str]:
    """(healthy, description): reachable and migrated to head?"""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from app.cli import alembic_config
    from app.db import build_engine

    settings = get_settings()
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    engine = build_engine()
    try:
        async with engine.connect() as conn:
            current = await asyncio.wait_for(
                conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads())), 10
            )
    except Exception as exc:  # any driver error means "unreachable" to the operator
        return False, f"{where}: 无法连接 ({type(exc).__name__}: {str(exc)[:160]})"
    finally:
        await engine.dispose()
    if current == heads:
        return True, f"{where}: 可连接，迁移已到最新 ({', '.join(sorted(heads))})"
    if not current:
        return False, f"{where}: 可连接，但尚未迁移 — 运行 daoxiang migrate"
    return False, (
        f"{where}: 可连接，迁移不是最新 (当前 {', '.join(sorted(current))}，"
        f"最新 {', '.join(sorted(heads))}) — 运行 daoxiang migrate"
    )


async def redis_state() -> str:
    from app.redis import close_redis, redis_status

    try:
        return await redis_status()
    finally:
        await close_redis()


def status(
    base_url: Annotated[
        str | None, typer.Option(help="server to check (default: the one `daoxiang start` started)")
    ] = None,
) -> None:
    """Is the server up? Database reachable and migrated to head? Redis ok/disabled/down? Exit 1 if not."""
    healthy = True
    typer.echo("稻香 Daoxiang 状态")

    data = SERVER.read()
    pid = SERVER.running_pid()
    url = base_url or (data or {}).get("url") or local_url("127.0.0.1", 8000)
    answer = fetch_health(url)
    pid_text = f"pid {pid}" if pid else ("pid 文件已过期" if data else "无 pid 文件")
    if answer is None:
        healthy = False
        _echo_bad("server", f"{url} 无响应 ({pid_text})")
    elif answer[0] == 200:
        _echo_ok("server", f"{url} 正常 ({pid_text})")
    else:
        healthy = False
        _echo_bad("server", f"{url} /api/health → {answer[0]} {answer[1]} ({pid_text})")

    ok, text = asyncio.run(database_state())
    healthy &= ok
    (_echo_ok if ok else _echo_bad)("database", text)

    state = asyncio.run(redis_state())
    if state == "ok":
        _echo_ok("redis", f"正常 ({_redis_where()})")
    elif state == "disabled":
        _echo_note("redis", "未配置 (REDIS_URL 为空)，使用数据库限流")
    else:
        healthy = False
        _echo_bad("redis", f"无法连接 ({_redis_where()})")

    healthy &= _background_status(WORKER, "未由 daoxiang start 启动")
    healthy &= _background_status(CONSUMER, "未运行（需要 Redis；由 daoxiang start 启动）")

    raise typer.Exit(0 if healthy else 1)


def _background_status(service: Service, not_started: str) -> bool:
    """One status line for a background process; False when its pid file names a process that is gone."""
    pid = service.running_pid()
    if pid:
        _echo_ok(service.name, f"运行中 (pid {pid})")
    elif service.read() is not None:
        _echo_bad(service.name, f"已退出 (pid 文件已过期，日志: {service.log_file})")
        return False
    else:
        _echo_note(service.name, not_started)
    return True


def _redis_where() -> str:
    from sqlalchemy.engine import make_url

    url = get_settings().redis_url or ""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


# --------------------------------------------------------------------------- smoke


class SmokeFailure(Exception):
    pass


def smoke(
    base_url: Annotated[str, typer.Option(help="the server to test")] = "http://127.0.0.1:8000",
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 10.0,
) -> None:
    """Register a temporary user, log in, read it back, check health. Exit 1 on any failure."""
    import httpx

    base_url = base_url.rstrip("/")
    phone = "17" + "".join(secrets.choice("0123456789") for _ in range(9))
    password = "smoke-" + secrets.token_urlsafe(12)
    context: dict = {}

    def health(client: httpx.Client) -> str:
        r = client.get("/api/health")
        _expect(r, 200)
        body = r.json()
        if body.get("database") != "ok":
            raise SmokeFailure(f"database {body.get('database')}")
        return f"status={body['status']} database={body['database']} redis={body['redis']}"

    def register(client: httpx.Client) -> str:
        r = client.post("/api/users", json={"phone": phone, "password": password, "nickname": "冒烟测试"})
        _expect(r, 201)
        context["user_id"] = r.json()["id"]
        return f"user {phone} (id {context['user_id']})"

    def login(client: httpx.Client) -> str:
        r = client.post("/api/auth/login", json={"phone": phone, "password": password})
        _expect(r, 200)
        context["token"] = r.json()["access_token"]
        context["refresh"] = r.json()["refresh_token"]
        return "access + refresh token"

    def me(client: httpx.Client) -> str:
        r = client.get("/api/users/me", headers={"Authorization": f"Bearer {context['token']}"})
        _expect(r, 200)
        body = r.json()
        if body.get("phone") != phone or body.get("id") != context["user_id"]:
            raise SmokeFailure(f"got {body}")
        return f"phone {body['phone']}, role {body['role']}"

    def logout(client: httpx.Client) -> str:
        r = client.post("/api/auth/logout", json={"refresh_token": context["refresh"]})
        _expect(r, 204)
        return "refresh token revoked"

    steps = [
        ("GET  /api/health", health),
        ("POST /api/users", register),
        ("POST /api/auth/login", login),
        ("GET  /api/users/me", me),
        ("POST /api/auth/logout", logout),
    ]
    typer.echo(f"冒烟测试 {base_url}")
    failed = False
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for label, step in steps:
            started = time.perf_counter()
            try:
                detail = step(client)
            except (SmokeFailure, httpx.HTTPError, ValueError, KeyError) as exc:
                _echo_bad(label, f"{type(exc).__name__}: {exc}")
                failed = True
                break
            _echo_ok(label, f"{detail} ({(time.perf_counter() - started) * 1000:.0f} ms)")
    if failed:
        typer.echo(typer.style("冒烟测试失败", fg="red", bold=True))
        raise typer.Exit(1)
    typer.echo(typer.style("冒烟测试通过", fg="green", bold=True))


def _expect(response, status_code: int) -> None:
    if response.status_code != status_code:
        raise SmokeFailure(f"HTTP {response.status_code} (expected {status_code}): {response.text[:300]}")


def register(cli: typer.Typer) -> None:
    cli.command()(start)
    cli.command()(stop)
    cli.command()(status)
    cli.command()(smoke)
