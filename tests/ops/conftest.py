from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.servers import Server, spawn_servers


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two independent server processes on the test database, shared by the operations tests."""
    started = spawn_servers(2, tmp_path_factory.mktemp("servers"))
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def live_server(servers: list[Server]) -> Server:
    return servers[0]
