"""`daoxiang start` and `daoxiang stop`: the shell and PowerShell scripts are thin wrappers over these."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import Annotated

import typer

from app.cli.processes import (
    CONSUMER,
    SERVER,
    WORKER,
    Service,
    fetch_health,
    local_url,
    pid_alive,
    port_in_use,
    spawn,
    spawn_attached,
    tail,
    terminate,
)
from app.config import get_settings


def _prepare_database() -> None:
    from alembic import command

    from app.cli.common import alembic_config, with_cleanup
    from app.cli.seed import seed_demo

    typer.echo("• 数据库迁移 (alembic upgrade head) …")
    command.upgrade(alembic_config(), "head")
    typer.echo("• 加载演示数据 (seed-demo) …")
    asyncio.run(with_cleanup(seed_demo()))


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
    _share_metrics_dir()
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
            typer.echo(tail(SERVER.log_file), err=True)
            raise typer.Exit(1)
        answer = fetch_health(base_url, timeout=1.0)
        if answer is not None:
            break
        if time.monotonic() > deadline:
            typer.echo(f"{wait:.0f} 秒内 {base_url}/api/health 无响应。日志末尾:", err=True)
            typer.echo(tail(SERVER.log_file), err=True)
            terminate(process.pid, timeout=5)
            SERVER.remove()
            raise typer.Exit(1)
        time.sleep(0.2)
    _start_worker_if_asked(worker)
    _print_welcome(base_url)
    typer.echo(f"日志: {SERVER.log_file}   停止: ./stop.sh   状态: ./status.sh")


def _share_metrics_dir() -> None:
    """With METRICS_TOKEN, the server and the worker started here write their metrics to one directory
    (VAR_DIR/metrics unless PROMETHEUS_MULTIPROC_DIR says otherwise), so /metrics shows the worker's jobs
    too. Values left by an earlier run are dropped, unless a worker still running writes there."""
    settings = get_settings()
    if settings.metrics_token is None or settings.prometheus_multiproc_dir is not None:
        return
    shared = settings.var_dir / "metrics"
    if shared.is_dir() and not WORKER.running_pid():
        for stale in shared.glob("*.db"):
            stale.unlink()
    shared.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)  # inherited by the processes started below


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
