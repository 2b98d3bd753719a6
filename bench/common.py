"""What the load benchmarks share: the framework's ceiling, free ports, starting a server and waiting for it,
and running wrk. One ceiling for every benchmark, so that their ratios compare against the same thing."""

from __future__ import annotations

import re
import socket
import subprocess
import time


def ceiling_app():
    """A bare FastAPI app whose one endpoint, `GET /items`, returns a 20-item JSON list shaped like a product
    list page: the framework's ceiling."""
    from fastapi import FastAPI

    app = FastAPI()
    items = [
        {
            "id": i,
            "name": f"五常大米 稻花香2号 {i}",
            "subtitle": "2026 新米 · 民乐乡核心产区 · 当季现磨",
            "cover_image": f"/media/products/{i}/cover.jpg",
            "min_price_fen": 6980 + i,
            "origin": "黑龙江五常",
            "variety": "稻花香2号",
            "sales": 100 * i,
        }
        for i in range(1, 21)
    ]

    @app.get("/items")
    async def list_items() -> list[dict]:
        return items

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(process: subprocess.Popen, base: str, probe: str, kind: str, timeout: float = 30) -> None:
    """Until `base + probe` answers 200; exits the benchmark if the server dies or never answers."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{kind} server exited with {process.returncode}")
        try:
            if httpx.get(base + probe, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{kind} server did not answer")


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(url: str, connections: int, duration: float, script: str | None = None) -> dict:
    """wrk with 2 threads (fewer if fewer connections), a 10 s timeout and latency percentiles.
    Returns rps, requests, p50_ms, p99_ms, errors (non-2xx/3xx), socket_errors (wrk's text) and failed
    (non-2xx/3xx plus every socket error)."""
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s"]
    cmd += ["--latency"] + (["-s", script] if script else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (connect (\d+), read (\d+), write (\d+), timeout (\d+))", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": _seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)) * 1000,
        "p99_ms": _seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)) * 1000,
        "errors": errors,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        "failed": errors + (sum(int(g) for g in socket_errors.groups()[1:]) if socket_errors else 0),
    }
