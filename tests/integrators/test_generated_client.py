"""A merchant's ERP generates a Python client from docs/openapi.yaml with openapi-python-client, installs it in
its own venv and searches, logs in, orders and pays in the sandbox with it. The spec's ASCII title gives the
package its name (`daoxiang_api_client`), the operationIds its functions (`place_order.sync`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import get_settings
from app.orders.models import OrderStatus
from tests.catalog.factories import create_product
from tests.orders.factories import get_order
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.integrators

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = "openapi-python-client==0.29.1"
# The generator's venv is kept between runs (installing it takes the better part of a minute).
TOOLS = Path(
    os.environ.get("DAOXIANG_TOOLS_DIR", Path.home() / ".cache" / "daoxiang" / "openapi-python-client-0.29.1")
)


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def generator() -> Path:
    tool = TOOLS / "bin" / "openapi-python-client"
    if not tool.exists():
        run(sys.executable, "-m", "venv", "--clear", TOOLS)
        run(TOOLS / "bin" / "python", "-m", "pip", "install", "-q", GENERATOR, timeout=600)
    return tool


async def test_a_generated_client_searches_logs_in_orders_and_pays(running_shop, tmp_path):
    await create_product(
        name="五常大米 稻花香2号", skus=[{"name": "5kg", "price_fen": 12800, "stock": 20, "weight_g": 5000}]
    )
    buyer = await create_user(nickname="ERP 买家")
    address = await create_address(buyer)

    run(
        generator(),
        "generate",
        "--path",
        ROOT / "docs" / "openapi.yaml",
        "--output-path",
        tmp_path / "client",
        "--meta",
        "setup",
    )
    assert (tmp_path / "client" / "daoxiang_api_client" / "api" / "orders" / "place_order.py").is_file()

    # The integrator's own venv: only the generated package and what it depends on.
    venv = tmp_path / "erp-venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", tmp_path / "client", timeout=600)

    out = run(
        venv / "bin" / "python",
        Path(__file__).with_name("client_flow.py"),
        running_shop,
        buyer.phone,
        DEFAULT_PASSWORD,
        str(address.id),
        get_settings().payment_sandbox_secret,
        cwd=tmp_path,
    )
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["found"] == ["五常大米 稻花香2号"]
    assert seen["order_status_at_first"] == OrderStatus.pending_payment
    assert seen["total_fen"] >= 2 * 12800
    assert seen["payment_channel"] == "sandbox"
    assert seen["ack"] == 200
    assert seen["status"] == OrderStatus.paid
    order = await get_order(seen["order_id"])
    assert order.status == OrderStatus.paid and order.user_id == buyer.id
