"""What the lean MariaDB/MySQL pool concludes from the server's version string."""

from __future__ import annotations

import pytest

from app.kit.leandb import _server_kind


@pytest.mark.parametrize(
    ("version", "kind"),
    [
        ("5.5.5-10.11.19-MariaDB-0+deb12u1", (True, True)),
        ("11.4.2-MariaDB", (True, True)),
        ("10.2.1-MariaDB", (True, True)),
        ("5.5.5-10.1.48-MariaDB-0+deb9u2", (True, False)),  # CHECK constraints parsed, not enforced
        ("8.0.36", (False, True)),
        ("8.4.0-commercial", (False, True)),
        ("8.0.15", (False, False)),
        ("5.7.44-log", (False, False)),
    ],
)
def test_which_servers_enforce_check_constraints(version, kind):
    assert _server_kind(version) == kind
