"""What happened in the gateway, as handlers report it: collected in the unit of work and, once it
has committed, told to people by one path (handlers/activity.py words them; the live pages get
the job and model views they carry).

Past tense, one class per fact. A fact carries the view a page shows (Job, Model) as it stood in
the transaction that made it, so nothing re-reads the database to tell it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.domain.schemas import Job, Model


@dataclass(frozen=True)
class DatasetUploaded:
    dataset_id: str
    name: str
    rows: int


@dataclass(frozen=True)
class DatasetDeleted:
    dataset_id: str
    name: str


@dataclass(frozen=True)
class JobChanged:
    """A training run moved on (started, progressed, requeued...): its page view changes."""

    job: Job


@dataclass(frozen=True)
class JobQueued(JobChanged):
    dataset_name: str


@dataclass(frozen=True)
class JobStarted(JobChanged):
    pass


@dataclass(frozen=True)
class JobCancelled(JobChanged):
    pass


@dataclass(frozen=True)
class JobFailed(JobChanged):
    pass


@dataclass(frozen=True)
class ModelTrained(JobChanged):
    model: Model
    stopped_early: bool = False
    """Cancelled mid-way: the best model found until then was kept."""


@dataclass(frozen=True)
class ModelSwitchedOn:
    model: Model


@dataclass(frozen=True)
class SettingsSaved:
    pass


@dataclass(frozen=True)
class OldDataRemoved:
    sentence: str
    """What went, in words (handlers/cleanup.py)."""


@dataclass(frozen=True)
class EmailAttempted:
    about: str
    """What the email was about: "the model for 'churn'"."""
    ref_id: str
    failure: str | None = None
    """Why it could not be sent, in plain words; None when it was sent."""


Fact = (
    DatasetUploaded
    | DatasetDeleted
    | JobChanged
    | ModelSwitchedOn
    | SettingsSaved
    | OldDataRemoved
    | EmailAttempted
)
