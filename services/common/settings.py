"""Settings shared by every service, read from MLOPS_* environment variables.

Settings are built by `load_settings()` and passed into each service's `bootstrap()`;
nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every MLOPS_* setting. Services read only the fields they need."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore")

    host: str = "127.0.0.1"
    """Interface each HTTP service listens on."""
    port: int = 8000
    """Port each HTTP service listens on."""
    data_dir: Path = Path("data")
    """Folder for datasets and model files (shared volume in distributed mode)."""
    broker_url: str = "memory://"
    """`memory://` for the in-process bus, `amqp://user:pass@host/vhost` for RabbitMQ."""
    bus_namespace: str = Field("mlops", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Prefix of the exchange and queue names, so several installations can share one broker."""
    database_url: str = ""
    """`sqlite:///path` or `postgresql://user@host/db`; empty means SQLite inside data_dir."""
    predictor_url: str = "http://127.0.0.1:8001"
    """Where the gateway finds the predictor in distributed mode."""
    max_upload_mb: int = Field(50, ge=1)
    """Largest CSV upload accepted, in megabytes."""
    metrics_interval_s: float = Field(5.0, gt=0)
    """How often the metrics service samples the machine."""
    heartbeat_interval_s: float = Field(5.0, gt=0)
    """How often each service announces it is alive."""
    default_time_budget_s: int = Field(60, ge=5)
    """Training time limit used when neither the request nor the saved settings give one."""
    secret_key: str = ""
    """Key that signs model files; empty means one generated once inside data_dir."""
    log_level: str = "INFO"
    """Python logging level."""
    log_json: bool = True
    """Structured JSON logs (true) or plain text (false)."""

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if not value.startswith(("memory://", "amqp://", "amqps://")):
            raise ValueError("MLOPS_BROKER_URL must start with memory://, amqp:// or amqps://")
        return value

    @field_validator("secret_key")
    @classmethod
    def _no_weak_secret(cls, value: str) -> str:
        if value and (len(value) < 16 or value.lower() in {"changeme", "change-me", "secret"}):
            raise ValueError("MLOPS_SECRET_KEY must be at least 16 characters and not a default")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mlops.db').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
