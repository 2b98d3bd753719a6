from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import get_settings
from app.payments import notices
from tests.payments.gateway import STATE, GatewayServer, GatewayState, settings_for


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[GatewayServer]:
    server = GatewayServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gateways(gateway_server: GatewayServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayState]:
    """Alipay and WeChat Pay configured with test keys, talking to the stand-in gateway."""
    settings = get_settings()
    for name, value in settings_for(gateway_server.url).items():
        monkeypatch.setattr(settings, name, value)
    STATE.reset()
    yield STATE
    STATE.reset()


@pytest.fixture(autouse=True)
def _no_race_hook() -> Iterator[None]:
    yield
    notices.after_verification = None
