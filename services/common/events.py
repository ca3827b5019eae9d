"""Every event that crosses the bus: versioned, typed, in one module that both sides import.

Names are past tense. Change an event by adding optional fields; a breaking change bumps
`version`. tests/unit/test_events.py diffs the JSON Schema against a checked-in snapshot.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.model_report import ModelReport


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: ClassVar[str] = "event"
    queued: ClassVar[bool] = False
    """Must reach a work queue: publishing fails (`Unroutable`) when no queue would keep it,
    instead of the broker dropping it. Broadcast-only events may reach nobody."""
    id: str = Field(default_factory=new_id)
    version: int = 1
    occurred_at: datetime = Field(default_factory=_now)
    correlation_id: str | None = None
    """The job (or model) this event belongs to."""

    def to_message(self) -> dict[str, Any]:
        return {"type": self.type, **self.model_dump(mode="json")}


class TrainingRequested(Event):
    type: ClassVar[str] = "training.requested"
    queued: ClassVar[bool] = True
    job_id: str
    model_id: str
    """Chosen by the gateway up front, so a redelivered job yields the same single model."""
    dataset_id: str
    dataset_path: str
    """Relative to the shared data folder."""
    target: str
    time_budget_s: int
    algorithm: str = "auto"


class TrainingStarted(Event):
    type: ClassVar[str] = "training.started"
    queued: ClassVar[bool] = True
    job_id: str
    worker: str


class TrainingProgressed(Event):
    type: ClassVar[str] = "training.progress"
    queued: ClassVar[bool] = True
    job_id: str
    progress: float = Field(ge=0.0, le=1.0)
    stage: str
    eta_s: float | None = None


class TrainingSucceeded(Event, ModelReport):
    """A model is trained: where its file is, and its report (every ModelReport field, flat)."""

    type: ClassVar[str] = "training.succeeded"
    queued: ClassVar[bool] = True
    job_id: str
    model_id: str
    model_path: str
    dataset_id: str

    @property
    def report(self) -> ModelReport:
        return ModelReport.model_validate(self.model_dump(include=set(ModelReport.model_fields)))


class TrainingFailed(Event):
    type: ClassVar[str] = "training.failed"
    queued: ClassVar[bool] = True
    job_id: str
    error: str
    code: str = "training_failed"


class TrainingCancelRequested(Event):
    type: ClassVar[str] = "training.cancel_requested"
    job_id: str


class TrainingCancelled(Event):
    type: ClassVar[str] = "training.cancelled"
    queued: ClassVar[bool] = True
    job_id: str


class ModelDeployed(Event):
    type: ClassVar[str] = "model.deployed"
    model_id: str
    model_path: str
    deployed_at: datetime = Field(default_factory=_now)


class MetricsSampled(Event):
    type: ClassVar[str] = "metrics.sampled"
    host: str
    cpu_percent: float
    memory_percent: float
    memory_used_mb: float
    memory_total_mb: float
    disk_percent: float
    disk_free_gb: float
    queue_depth: dict[str, int] = Field(default_factory=dict)
    dead_letters: dict[str, int] = Field(default_factory=dict)
    """Per work queue, the messages it gave up on and keeps (until replayed or discarded)."""


class ServiceHeartbeat(Event):
    type: ClassVar[str] = "service.heartbeat"
    service: Literal["gateway", "trainer", "predictor", "metrics"]
    instance: str
    status: Literal["ok", "degraded"] = "ok"
    details: dict[str, Any] = Field(default_factory=dict)


class DashboardChanged(Event):
    """What a gateway replica tells every replica's pages after a commit (job and model views,
    activity lines), so a page sees the change whichever replica recorded it."""

    type: ClassVar[str] = "dashboard.changed"
    updates: list[dict[str, Any]] = Field(default_factory=list)
    """[{"type": "job" | "model" | "activity", "data": {...}}], in the order they happened."""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        TrainingRequested,
        TrainingStarted,
        TrainingProgressed,
        TrainingSucceeded,
        TrainingFailed,
        TrainingCancelRequested,
        TrainingCancelled,
        ModelDeployed,
        MetricsSampled,
        ServiceHeartbeat,
        DashboardChanged,
    )
}


class UnknownEvent(ValueError):
    pass


def parse_event(message: dict[str, Any]) -> Event:
    """Turn a message body (as made by `Event.to_message`) back into its typed event."""
    cls = EVENT_TYPES.get(str(message.get("type")))
    if cls is None:
        raise UnknownEvent(f"unknown event type {message.get('type')!r}")
    return cls.model_validate(message)


TRAINING_QUEUE = "trainer.jobs"
"""The durable work queue every trainer replica consumes `training.requested` from; declare it
with `bus.declare_work_queue(TRAINING_QUEUE, TrainingRequested)`."""
RECORDS_QUEUE = "gateway.records"
"""The durable work queue the gateway replicas record training updates from."""
WORK_QUEUES = (TRAINING_QUEUE, RECORDS_QUEUE)
"""Every work queue of the system: their dead letters are watched, replayed and discarded."""
