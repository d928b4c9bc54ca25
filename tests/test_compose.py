"""deploy/compose.yml (PostgreSQL + two replicas) says what the README says: every replica on
the one database, started once it is healthy, health-checked, settings from .env."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.settings import Settings, load

COMPOSE = Path(__file__).resolve().parents[1] / "deploy" / "compose.yml"


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return doc


def test_every_replica_shares_the_healthy_database() -> None:
    services = _compose()["services"]
    replicas = {name: s for name, s in services.items() if name.startswith("gistbot")}
    assert len(replicas) >= 2
    urls = {s["environment"]["GIST_DATABASE_URL"] for s in replicas.values()}
    assert len(urls) == 1  # one database for all
    url = urls.pop().replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "pw")
    assert urlsplit(url).hostname == "postgres"
    settings: Settings = load(
        Settings,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        twelvelabs_api_key="k",
        gist_database_url=url,
        gist_lease_s=replicas["gistbot-1"]["environment"]["GIST_LEASE_S"],
    )
    assert settings.gist_database_url == url
    ports = set()
    for service in replicas.values():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["healthcheck"]["test"] == ["CMD", "gistbot", "health"]
        assert service["env_file"] == "../.env" and service["build"]["context"] == ".."
        ports.update(service["ports"])
    assert len(ports) == len(replicas)  # each replica its own port behind the balancer
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
