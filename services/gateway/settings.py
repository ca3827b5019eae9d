"""The gateway's own settings, beside those every service shares."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import Settings


class GatewaySettings(Settings):
    database_url: str = ""
    """`sqlite:///path` or `postgresql://user@host/db`; empty means SQLite inside data_dir."""
    predictor_url: str = "http://127.0.0.1:8001"
    """Where the gateway finds the predictor in distributed mode."""
    max_upload_mb: int = Field(50, ge=1)
    """Largest CSV upload accepted, in megabytes."""
    default_time_budget_s: int = Field(60, ge=5, le=3600)
    """Training time limit used when neither the request nor the saved settings give one."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mlops.db').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024
