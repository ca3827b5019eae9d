"""The trainer's own settings, beside those every service shares."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import Settings


class TrainerSettings(Settings):
    training_memory_mb: int = Field(0, ge=0)
    """The most memory one training may use; 0 means three quarters of the machine's."""
