"""The scale suite (marker `scale`): a shop of realistic size on MariaDB, and every request checked against
its query plans. Seeding takes about a minute, so the default run leaves it out: run it with
`SCALE_TESTS=1 TEST_DATABASE_URL=mysql+pymysql://... pytest tests/scale -m scale` (.ci/run does, after the
main suites). Sizes: SCALE_PRODUCTS, SCALE_ORDERS, SCALE_CODES (defaults 10,000 / 60,000 / 200,000).

The shop is seeded once for the module and emptied at its end: the per-test emptying of tests/conftest.py
is replaced here (seeding again for every test would take an hour).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.conftest import IS_MYSQL, truncate_all

ENABLED = os.environ.get("SCALE_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # By marker, not keyword: keywords hold every parent's name (this checkout may sit in a "scale" directory).
        if item.get_closest_marker("scale") is None:
            continue
        if not ENABLED:
            item.add_marker(pytest.mark.skip(reason="scale suite: run with SCALE_TESTS=1 (see .ci/run)"))
        elif not IS_MYSQL:
            item.add_marker(pytest.mark.skip(reason="scale suite: plans are checked on MariaDB"))


@pytest.fixture(autouse=True)
async def _isolate() -> AsyncIterator[None]:
    """Keeps the seeded shop between the tests of this directory (see the module docstring)."""
    yield


@pytest.fixture(scope="module")
async def big_shop(database: None) -> AsyncIterator[dict[str, int]]:
    from app.seed_scale import seed_scale

    sizes = {
        "products": int(os.environ.get("SCALE_PRODUCTS", "10000")),
        "orders": int(os.environ.get("SCALE_ORDERS", "60000")),
        "codes": int(os.environ.get("SCALE_CODES", "200000")),
    }
    await truncate_all()
    await seed_scale(**sizes, seed=18)
    yield sizes
    await truncate_all()
