"""Browser tests: a real uvicorn serving the app against the test database, and Debian's chromium driven by
playwright. Tests marked `browser` skip themselves (saying why) when /usr/bin/chromium is absent.

Set DAOXIANG_SCREENSHOTS=docs/screenshots to save compressed screenshots of the main pages.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"browser test skipped: {CHROMIUM} not found (install it: apt-get install -y chromium)")


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """uvicorn in a subprocess (its own event loop and engine), same environment as the tests."""
    _require_chromium()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PUBLIC_BASE_URL=base_url, PYTHONPATH=str(ROOT))
    log_path = Path(os.environ["VAR_DIR"]) / "live-server.log"
    log = log_path.open("wb")
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
                raise RuntimeError(f"uvicorn exited early: {log_path.read_text(errors='replace')[-2000:]}")
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
        log.close()


@pytest.fixture(scope="session")
async def browser(live_server: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def new_page(browser, live_server: str):
    """new_page(phone=False) → a page in a fresh context (own cookies) with base_url set."""
    contexts = []

    async def make(phone: bool = False):
        options = {"base_url": live_server, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
        if phone:
            options.update(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        else:
            options.update(viewport=DESKTOP)
        context = await browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


async def log_in_on_the_way(page, path: str, phone: str, password: str) -> None:
    """Open `path`, which sends a visitor to the login form, log in there and land back on `path`."""
    await page.goto(path)
    await page.wait_for_url(re.compile(r"/login\?next=" + re.escape(path)))
    await page.get_by_label("手机号").fill(phone)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(re.compile(re.escape(path) + "$"))


async def screenshot(page, name: str, full_page: bool = False) -> None:
    """Saves a palette-compressed PNG to $DAOXIANG_SCREENSHOTS/<name>.png when that is set."""
    target = os.environ.get("DAOXIANG_SCREENSHOTS")
    if not target:
        return
    from io import BytesIO

    from PIL import Image

    raw = await page.screenshot(full_page=full_page)
    image = Image.open(BytesIO(raw)).convert("RGB")
    if image.width > 800:  # desktop shots: half size is plenty for a README
        image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    elif image.width > 400:  # phone shots at 2x: back to CSS pixels
        image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    path = ROOT / target / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
