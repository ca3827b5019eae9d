"""The API's request and response shapes (shared/API.md). ORM rows are turned into these here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.algorithms import CHOICES
from services.gateway.adapters.orm import DatasetRow, JobRow, ModelRow

Light = Literal["green", "yellow", "red"]
Task = Literal["classification", "regression"]


class Column(BaseModel):
    name: str
    kind: Literal["numeric", "categorical", "datetime", "text", "identifier", "constant"]
    missing: int
    unique: int
    leaks_target: bool = False  # gives the target away, so it is left out of training


class Dataset(BaseModel):
    id: str
    name: str
    size_bytes: int
    rows: int
    columns: list[Column]
    target: str
    task: Task
    light: Light
    messages: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: DatasetRow) -> Dataset:
        return cls.model_validate(row, from_attributes=True)


class DatasetList(BaseModel):
    items: list[Dataset]


class Preview(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dataset_id: str
    target: str | None = None
    time_budget_s: int | None = Field(None, ge=5, le=3600)


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class Job(BaseModel):
    id: str
    dataset_id: str
    target: str
    status: JobStatus
    progress: float
    stage: str
    eta_s: float | None = None
    time_budget_s: int
    model_id: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: JobRow) -> Job:
        job = cls.model_validate(row, from_attributes=True)
        # The model id is reserved up front, but a Job names its model only once it exists.
        exists = row.status == "succeeded" or row.stage == STOPPED_EARLY
        return job.model_copy(update={"model_id": row.model_id if exists else None})


class JobList(BaseModel):
    items: list[Job]


class Model(BaseModel):
    id: str
    job_id: str
    dataset_id: str
    task: Task
    target: str
    algorithm: str
    score_name: str
    score: float
    metrics: dict[str, Any]
    light: Light
    light_reason: str
    summary: str
    notes: list[str]
    leaderboard: list[dict[str, Any]]
    feature_importance: list[dict[str, Any]]
    features: list[dict[str, Any]]
    versions: dict[str, Any]
    deployed: bool
    deployed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: ModelRow) -> Model:
        data = {c: getattr(row, c) for c in cls.model_fields if c != "deployed"}
        return cls(**data, deployed=row.deployed_at is not None)


class ModelList(BaseModel):
    items: list[Model]


class Deployment(BaseModel):
    model_id: str
    deployed: bool = True
    deployed_at: datetime


class PredictRequest(BaseModel):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    model_id: str | None = None


class Unusual(BaseModel):
    unusual: bool
    reasons: list[str]


class PredictResponse(BaseModel):
    model_id: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = None
    # Added after the first release: None when an older predictor answers.
    confidence: list[Literal["high", "medium", "low"]] | None = None
    unusual: list[Unusual] | None = None


STOPPED_EARLY = "Stopped early; the best model found until then was kept"  # a job's stage


class UserSettings(BaseModel):
    """What the Settings page saves; the services obey these."""

    model_config = ConfigDict(extra="forbid")
    time_budget_s: int = Field(60, ge=5, le=3600)
    algorithm: Literal[CHOICES] = "auto"  # type: ignore[valid-type]  # one of the known kinds
    notify_on_complete: bool = True
    cleanup_after_days: int | None = Field(None, ge=1, le=3650)


class Activity(BaseModel):
    id: int
    kind: str
    message: str
    ref_id: str | None
    created_at: datetime


class ActivityList(BaseModel):
    items: list[Activity]


ComponentState = Literal["ok", "degraded", "down", "unknown"]


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    components: dict[str, ComponentState]
