"""One typed definition of what a trained model is: add a field here and the trainer's result,
the `training.succeeded` event, the database row, the API's Model and the predictor's view all
carry it.

- `ModelSignature`: what a model needs and answers (its task, target and input columns); the
  predictor's view of a model, read from the model file itself.
- `ModelReport`: the signature plus everything training found out (scores, light, summary...).
  The trainer builds it, the event carries it flat, the gateway stores it whole (one JSON column)
  and the API answers it beside the model's id and dates.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["classification", "regression"]
Light = Literal["green", "yellow", "red"]


class ModelSignature(BaseModel):
    """What a model needs and answers."""

    model_config = ConfigDict(extra="ignore")

    task: Task
    target: str
    """The column it predicts."""
    features: list[dict[str, Any]] = Field(default_factory=list)
    """The columns a prediction needs: [{"name", "kind", "example", ...}]."""
    classes: list[Any] | None = None
    """The labels it can answer, for classification (None when unknown or a number)."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Library versions it was trained with (python, sklearn, pandas, numpy)."""


class ModelReport(ModelSignature):
    """Everything training found out about a model."""

    algorithm: str
    """The approach picked, in words ("A blend of ...")."""
    score_name: str
    score: float
    metrics: dict[str, Any] = Field(default_factory=dict)
    light: Light
    light_reason: str = ""
    """Why the light has its colour, in one plain sentence."""
    summary: str
    notes: list[str] = Field(default_factory=list)
    """Plain-English notes about the data the model learned from."""
    leaderboard: list[dict[str, Any]] = Field(default_factory=list)
    feature_importance: list[dict[str, Any]] = Field(default_factory=list)
    training_seconds: float = 0.0
