"""`manage.py check --deploy` with the settings the compose file gives its web service: no warning at all."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
# What an operator must give the compose file (its ${NAME:?…} variables); everything else keeps its default.
REQUIRED = {"POSTGRES_PASSWORD": "a-database-password", "SECRET_KEY": secrets.token_urlsafe(50),
            "VAM_ADMIN_PASSWORD": "an-admin-password", "PHOTOS": "/srv/photos"}  # fmt: skip


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, as `docker compose` reads them."""

    def one(match: re.Match) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3) or ""
        if name in given and (given[name] or operator != ":-"):
            return given[name]
        assert operator != ":?", f"the compose file needs {name}: {rest}"
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def web_environment() -> dict[str, str]:
    """The web container's environment: the Dockerfile's ENV, then the compose file's for the web service."""
    env: dict[str, str] = {}
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("ENV "):
            env |= dict(item.split("=", 1) for item in line[4:].split())
    web = yaml.safe_load(COMPOSE.read_text())["services"]["web"]
    env |= {name: interpolate(str(value), REQUIRED) for name, value in web["environment"].items()}
    return env


def test_check_deploy_finds_nothing_to_warn_about_with_the_compose_settings(tmp_path):
    container = web_environment()
    assert container["VAM_HTTPS"] == "1" and container["DATABASE_URL"].startswith("postgres://")
    env = container | {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAM_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output and "WARNINGS" not in output
