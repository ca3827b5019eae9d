"""The metrics service's own settings, beside those every service shares."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import Settings


class MetricsSettings(Settings):
    metrics_interval_s: float = Field(5.0, gt=0)
    """How often the metrics service samples the machine."""
