"""Fault drills: real processes killed, a private Redis and a private MariaDB stopped and started.

They take minutes, so the default run leaves them out: run them with `FAULT_DRILLS=1 pytest tests/faults -s`
on MariaDB + Redis (TEST_DATABASE_URL, TEST_REDIS_URL), as .ci/run does after the main suites."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HAS_REDIS, IS_MYSQL

ENABLED = os.environ.get("FAULT_DRILLS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("faults") is None:
            continue
        if not ENABLED:
            item.add_marker(pytest.mark.skip(reason="fault drill: run with FAULT_DRILLS=1 (see .ci/run)"))
        elif not (IS_MYSQL and HAS_REDIS):
            item.add_marker(
                pytest.mark.skip(reason="fault drill: needs TEST_DATABASE_URL and TEST_REDIS_URL")
            )


@pytest.fixture
def drill_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("drill")
    yield directory
