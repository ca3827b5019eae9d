"""The API's request and response shapes (shared/API.md). Database rows become these through
`of(row)`, read by attribute, so this module needs nothing from the adapters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.algorithms import CHOICES
from services.common.bus.dead_letters import DeadLetter
from services.common.model_report import Light, ModelReport, Task
from services.common.prediction import PredictRequest, PredictResponse, Unusual
from services.gateway.domain.status import Overall, State

__all__ = ["PredictRequest", "PredictResponse", "Unusual"]  # the predictor's contract, shared


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
    def of(cls, row: Any) -> Dataset:
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
    time_budget_s: int | None = Field(default=None, ge=5, le=3600)


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
    def of(cls, row: Any) -> Job:
        job = cls.model_validate(row, from_attributes=True)
        # The model id is reserved up front, but a Job names its model only once it exists.
        return job.model_copy(update={"model_id": row.model_id if row.has_model else None})


class JobList(BaseModel):
    items: list[Job]


class Model(ModelReport):
    """A trained model: its report (services.common.model_report) and where it stands."""

    id: str
    job_id: str
    dataset_id: str
    deployed: bool
    deployed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> Model:
        return cls(
            **row.report,
            id=row.id,
            job_id=row.job_id,
            dataset_id=row.dataset_id,
            deployed=row.deployed_at is not None,
            deployed_at=row.deployed_at,
            created_at=row.created_at,
        )


class ModelList(BaseModel):
    items: list[Model]


class Deployment(BaseModel):
    model_id: str
    deployed: bool = True
    deployed_at: datetime


STOPPED_EARLY = "Stopped early; the best model found until then was kept"  # a job's stage


class UserSettings(BaseModel):
    """What the Settings page saves; the services obey these."""

    model_config = ConfigDict(extra="forbid")
    time_budget_s: int = Field(default=60, ge=5, le=3600)
    algorithm: Literal[CHOICES] = "auto"  # type: ignore[valid-type]  # one of the known kinds
    notify_on_complete: bool = True
    cleanup_after_days: int | None = Field(default=None, ge=1, le=3650)


class Activity(BaseModel):
    id: int
    kind: str
    message: str
    ref_id: str | None
    created_at: datetime


class ActivityList(BaseModel):
    items: list[Activity]


class Health(BaseModel):
    status: Overall
    components: dict[str, State]


class DeadLetterQueue(BaseModel):
    """One work queue's dead letters: how many it keeps, and the first of them."""

    queue: str
    count: int
    items: list[DeadLetter]


class DeadLetterList(BaseModel):
    queues: list[DeadLetterQueue]


class DeadLetterChoice(BaseModel):
    """Which dead letters to replay or discard: those with these ids, or all when left out."""

    ids: list[str] | None = Field(None, max_length=1000)


class DeadLettersSettled(BaseModel):
    queue: str
    action: Literal["replayed", "discarded"]
    count: int
