"""Two locked sets: what the shop runs on (requirements.lock, all the Docker image installs) and the development
tools on top (requirements-dev.lock). The runtime set must be closed (every package a runtime dependency needs,
transitively, is pinned in it) and carry no test, lint or browser tool."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"pytest", "pytest-asyncio", "playwright", "schemathesis", "hypothesis", "ruff", "import-linter"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r")):
            name, version = line.split("==")
            found[norm(name)] = version
    return found


RUNTIME = pins(ROOT / "requirements.lock")
DEV = pins(ROOT / "requirements-dev.lock")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_runtime_set_carries_no_development_tool():
    assert not DEV_ONLY & set(RUNTIME)
    assert DEV_ONLY <= set(DEV)


def test_the_development_set_builds_on_the_runtime_set_without_repeating_it():
    assert (ROOT / "requirements-dev.lock").read_text().count("-r requirements.lock") == 1
    assert not set(RUNTIME) & set(DEV)


def test_every_direct_dependency_is_pinned_at_its_version_in_its_set():
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        assert RUNTIME.get(norm(req.name)) == str(req.specifier).removeprefix("=="), spec
    for spec in PROJECT["optional-dependencies"]["dev"]:
        req = Requirement(spec)
        assert {**RUNTIME, **DEV}.get(norm(req.name)) == str(req.specifier).removeprefix("=="), spec


def _closure(specs: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [(Requirement(s), frozenset(Requirement(s).extras)) for s in specs]
    while todo:
        req, extras = todo.pop()
        name = norm(req.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for child_spec in metadata.requires(req.name) or []:
            child = Requirement(child_spec)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                todo.append((child, frozenset(child.extras)))
    return seen


def test_the_runtime_set_is_closed():
    needed = _closure(PROJECT["dependencies"])
    assert needed - set(RUNTIME) == set()


def test_the_image_installs_only_the_runtime_set_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile and "requirements-dev.lock" not in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
