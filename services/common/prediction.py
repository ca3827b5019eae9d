"""The prediction contract: what a caller sends to `/predict` and what comes back.

One definition for both ends: the gateway answers `POST /api/predict` with it and the predictor
answers its own `POST /predict` with it (shared/API.md), so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class PredictRequest(BaseModel):
    """Rows to predict, as column -> value; `model_id` None means the model switched on last."""

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    model_id: str | None = None


class Unusual(BaseModel):
    """Whether a row is unlike the data the model learned from, with plain-English reasons."""

    unusual: bool
    reasons: list[str]


class PredictResponse(BaseModel):
    """One prediction per row, in the order sent; probabilities only for labels."""

    model_id: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = None
    # Added after the first release: None when an older predictor answers.
    confidence: list[Literal["high", "medium", "low"]] | None = None
    unusual: list[Unusual] | None = None
