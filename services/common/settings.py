"""Settings every service shares, read from MLOPS_* environment variables.

Each service extends `Settings` with its own fields (services/<name>/settings.py). Settings are
built by the CLI and passed into each service's `bootstrap()`; nothing reads the environment
at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What every service needs: where to listen, the bus, the shared folder, logging."""

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
    heartbeat_interval_s: float = Field(5.0, gt=0)
    """How often each service announces it is alive."""
    retry_window_s: float = Field(600.0, gt=0)
    """How long an event whose handler needs something that is away (the database, the broker)
    is retried, with backoff, before it is dead-lettered (and can be replayed)."""
    secret_key: str = ""
    """Key that signs model files; empty means one generated once inside data_dir."""
    log_level: str = "INFO"
    """Python logging level."""
    log_json: bool = True
    """Structured JSON logs (true) or plain text (false)."""
    max_json_kb: int = Field(1024, ge=1)
    """Largest JSON (any non-file) request body a service reads, in KiB; larger ones get 413."""
    predictor_max_json_kb: int = Field(10240, ge=1)
    """The same for the predictor, whose /predict takes many rows at once."""
    body_timeout_s: float = Field(30.0, gt=0)
    """Time a request body may take to arrive (plus a second per body_min_kb_per_s KiB): 408."""
    body_min_kb_per_s: int = Field(64, ge=1)
    """Slowest honest upload speed, in KiB/s: bodies arriving slower are cut at body_timeout_s."""
    head_timeout_s: float = Field(10.0, gt=0)
    """Time a connection may take to send a request's first line and headers before it is closed."""
    max_connections: int = Field(1000, ge=1)
    """Open connections plus requests under way a service takes before answering 503 at once."""
    predict_concurrency: int = Field(4, ge=1)
    """Predictions one predictor computes at the same time."""
    predict_queue: int = Field(32, ge=0)
    """Predictions that may wait for a turn; past them the predictor answers 503 `busy` at once."""
    predict_max_wait_s: float = Field(2.0, gt=0)
    """Longest a prediction may expect to wait for its turn; beyond, 503 `busy` at once."""

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


S = TypeVar("S", bound=Settings)


def load_settings(kind: type[S] = Settings, **overrides: Any) -> S:  # type: ignore[assignment]
    """Build settings of `kind` from the environment, with explicit overrides winning.
    Overrides that `kind` does not have are ignored, so one set can configure every service."""
    known = {k: v for k, v in overrides.items() if k in kind.model_fields}
    return kind(**known)
