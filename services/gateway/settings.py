"""The gateway's own settings, beside those every service shares."""

from __future__ import annotations

from pydantic import Field, SecretStr

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
    public_url: str = "http://localhost:8000"
    """Address of the dashboard as people reach it; emails link to it. Empty: no link."""
    smtp_host: str = ""
    """Mail server that sends the "training finished" emails; empty switches email off."""
    smtp_port: int = Field(25, ge=1, le=65535)
    """Port of the mail server (25 plain, 587 usually with STARTTLS)."""
    smtp_username: str = ""
    """User name for the mail server; empty means no login."""
    smtp_password: SecretStr = SecretStr("")
    """Password for the mail server (never logged)."""
    smtp_starttls: bool = False
    """Switch the connection to TLS (STARTTLS) before logging in and sending."""
    smtp_sender: str = "Prediction Studio <noreply@localhost>"
    """The From address of the emails."""
    smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    """How long to wait for the mail server before giving up on one email."""
    notify_email: str = ""
    """Who gets the emails, comma separated; empty switches email off."""
    cleanup_interval_s: float = Field(3600.0, gt=0)
    """How often old data is cleaned up, when the saved settings ask for it."""
    reconcile_interval_s: float = Field(30.0, gt=0)
    """How often the gateway looks for training outcomes that never arrived and repairs them."""
    reconcile_lookback_days: float = Field(7.0, gt=0)
    """How far back (by creation) jobs without a model are checked for a finished model file."""
    predictor_timeout_s: float = Field(120.0, gt=0)
    """Longest a prediction may take, tries on other predictor replicas included."""
    predictor_attempts: int = Field(3, ge=1, le=10)
    """Predictor replicas one prediction may try (MLOPS_PREDICTOR_URL may list several)."""
    predictor_cooldown_s: float = Field(5.0, ge=0)
    """How long a predictor replica that could not be reached is tried only as a last resort."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mlops.db').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def notify_recipients(self) -> list[str]:
        return [address.strip() for address in self.notify_email.split(",") if address.strip()]

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host.strip() and self.notify_recipients)
