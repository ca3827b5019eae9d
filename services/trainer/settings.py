"""The trainer's own settings, beside those every service shares."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import Settings


class TrainerSettings(Settings):
    training_memory_mb: int = Field(0, ge=0)
    """The most memory one training may use; 0 means three quarters of the machine's."""
    progress_publish_timeout_s: float = Field(2.0, gt=0)
    """How long a progress update may wait for the broker before it is dropped (progress is
    best effort: training never waits for it)."""
    outcome_publish_window_s: float = Field(3600.0, gt=0)
    """How long a training's outcome is retried, with backoff, while the broker is away."""
