"""Health lights from heartbeats, and settings validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.events import ServiceHeartbeat
from services.common.settings import load_settings
from services.gateway.adapters.database import normalize_url
from services.gateway.domain.status import HealthBoard, overall
from services.gateway.settings import GatewaySettings


def test_services_are_down_until_heard_and_after_going_quiet() -> None:
    now = [100.0]
    board = HealthBoard(heartbeat_interval_s=5, clock=lambda: now[0])
    assert board.components(True, True, True)["trainer"] == "down"
    board.saw(ServiceHeartbeat(service="trainer", instance="t1"))
    assert board.service_state("trainer") == "ok"
    now[0] += 16
    assert board.service_state("trainer") == "down"


def test_overall_status() -> None:
    parts = dict.fromkeys(
        ("database", "broker", "storage", "trainer", "predictor", "metrics"), "ok"
    )
    assert overall(parts) == "ok"
    assert overall({**parts, "trainer": "down"}) == "degraded"
    assert overall({**parts, "database": "down"}) == "down"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PORT", "9001")
    monkeypatch.setenv("MLOPS_MAX_UPLOAD_MB", "7")
    settings = load_settings(GatewaySettings, unknown_to_it="ignored")
    assert settings.port == 9001 and settings.max_upload_bytes == 7 * 1024 * 1024
    assert load_settings(GatewaySettings, port=1234).port == 1234  # explicit values win
    assert settings.resolved_database_url.startswith("sqlite:///")
    monkeypatch.setenv("MLOPS_BROKER_URL", "redis://x")
    with pytest.raises(ValidationError):
        load_settings()


def test_weak_secrets_are_refused() -> None:
    with pytest.raises(ValidationError):
        load_settings(secret_key="changeme")


def test_plain_postgres_urls_get_our_driver() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
