"""The activity feed: the one wording of each fact, and what the live pages are sent for it."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.gateway.adapters.orm import ActivityRow
from services.gateway.domain.facts import (
    DatasetDeleted,
    DatasetUploaded,
    EmailAttempted,
    Fact,
    JobCancelled,
    JobChanged,
    JobFailed,
    JobQueued,
    JobStarted,
    ModelSwitchedOn,
    ModelTrained,
    OldDataRemoved,
    SettingsSaved,
)
from services.gateway.domain.schemas import Activity

STOPPED_EARLY = "Stopped early; the best model found until then was kept"  # a job's stage


def describe(fact: Fact) -> tuple[str, str, str | None] | None:
    """(kind, plain-English sentence, id it is about) for the facts worth telling a person."""
    match fact:
        case DatasetUploaded(dataset_id, name, rows):
            return "dataset", f"'{name}' was uploaded: {rows} rows.", dataset_id
        case DatasetDeleted(dataset_id, name):
            return "dataset", f"'{name}' was deleted.", dataset_id
        case JobQueued(job, dataset_name):
            return (
                "job",
                f"Training on '{dataset_name}' to predict '{job.target}' was queued.",
                job.id,
            )
        case JobStarted(job):
            return "job", "Training started.", job.id
        case JobCancelled(job):
            return "job", "Training was cancelled.", job.id
        case JobFailed(job):
            return "job", f"Training did not finish: {job.error}", job.id
        case ModelTrained(_, model, stopped_early=True):
            return "model", f"{STOPPED_EARLY}.", model.id
        case ModelTrained(_, model):
            return "model", f"A new model is ready: {model.summary}", model.id
        case ModelSwitchedOn(model):
            return "model", "A model was switched on and now answers predictions.", model.id
        case SettingsSaved():
            return "settings", "Settings were saved.", None
        case OldDataRemoved(sentence):
            return "cleanup", sentence, None
        case EmailAttempted(about, ref_id, None):
            return "email", f"An email about {about} was sent.", ref_id
        case EmailAttempted(about, ref_id, failure):
            return "email", f"The email about {about} could not be sent: {failure}", ref_id
    return None


def record(session: Session, facts: Sequence[Fact]) -> list[Activity]:
    """Add the feed's lines for these facts; their views, ids and times as stored."""
    rows = []
    for fact in facts:
        told = describe(fact)
        if told is not None:
            kind, message, ref_id = told
            rows.append(ActivityRow(kind=kind, message=message, ref_id=ref_id))
    session.add_all(rows)
    session.flush()
    return [Activity.model_validate(row, from_attributes=True) for row in rows]


def live_views(fact: Fact) -> list[tuple[str, BaseModel]]:
    """What the pages are sent for a fact, besides its activity line: (message type, view)."""
    match fact:
        case JobChanged(job):
            return [("job", job)]
        case ModelSwitchedOn(model):
            return [("model", model)]
    return []


def recent(session: Session, limit: int = 50) -> list[ActivityRow]:
    query = select(ActivityRow).order_by(ActivityRow.id.desc()).limit(limit)
    return list(session.scalars(query))
