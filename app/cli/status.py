"""`daoxiang status`: server, database (migrated to head?), Redis and the background processes."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.cli.processes import (
    CONSUMER,
    SERVER,
    WORKER,
    Service,
    echo_bad,
    echo_note,
    echo_ok,
    fetch_health,
    local_url,
)
from app.config import get_settings


async def database_state() -> tuple[bool, str]:
    """(healthy, description): reachable and migrated to head?"""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from app.cli.common import alembic_config
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
        echo_bad("server", f"{url} 无响应 ({pid_text})")
    elif answer[0] == 200:
        echo_ok("server", f"{url} 正常 ({pid_text})")
    else:
        healthy = False
        echo_bad("server", f"{url} /api/health → {answer[0]} {answer[1]} ({pid_text})")

    ok, text = asyncio.run(database_state())
    healthy &= ok
    (echo_ok if ok else echo_bad)("database", text)

    state = asyncio.run(redis_state())
    if state == "ok":
        echo_ok("redis", f"正常 ({_redis_where()})")
    elif state == "disabled":
        echo_note("redis", "未配置 (REDIS_URL 为空)，使用数据库限流")
    else:
        healthy = False
        echo_bad("redis", f"无法连接 ({_redis_where()})")

    healthy &= _background_status(WORKER, "未由 daoxiang start 启动")
    healthy &= _background_status(CONSUMER, "未运行（需要 Redis；由 daoxiang start 启动）")

    raise typer.Exit(0 if healthy else 1)


def _background_status(service: Service, not_started: str) -> bool:
    """One status line for a background process; False when its pid file names a process that is gone."""
    pid = service.running_pid()
    if pid:
        echo_ok(service.name, f"运行中 (pid {pid})")
    elif service.read() is not None:
        echo_bad(service.name, f"已退出 (pid 文件已过期，日志: {service.log_file})")
        return False
    else:
        echo_note(service.name, not_started)
    return True


def _redis_where() -> str:
    from sqlalchemy.engine import make_url

    url = get_settings().redis_url or ""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
