"""Every setting is documented: README.md (配置) and .env.example name each one with its default."""

from __future__ import annotations

import json

from app.config import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
ENV_EXAMPLE = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
# Defaults that depend on where the project lives; documented as ./var/… instead.
PATH_DEFAULTS = {"database_url", "media_dir", "var_dir"}


def _env_example_values() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def _documented(default: object) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if default is None:
        return ""
    if isinstance(default, list):
        return json.dumps(default, ensure_ascii=False)
    return str(default)


class TestEverySettingIsDocumented:
    def test_in_the_readme(self):
        missing = [n.upper() for n in Settings.model_fields if f"`{n.upper()}`" not in README]
        assert missing == [], "add these settings and their defaults to README.md, section 配置"

    def test_in_env_example_with_its_default(self):
        values = _env_example_values()
        missing = [n.upper() for n in Settings.model_fields if n.upper() not in values]
        assert missing == [], "add NAME=<default> lines for these settings to .env.example"
        wrong = {
            n.upper(): Settings.model_fields[n].default
            for n in Settings.model_fields
            if n not in PATH_DEFAULTS
            and values[n.upper()]
            not in {
                _documented(Settings.model_fields[n].default),
                _documented(Settings.model_fields[n].default).removesuffix(".0"),
            }
        }
        assert wrong == {}, ".env.example should show these defaults"
