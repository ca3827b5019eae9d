"""The activity feed: what happened, in plain words, and the outbox that announces changes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.events import (
    Event,
    ModelDeployed,
    TrainingCancelled,
    TrainingFailed,
    TrainingRequested,
    TrainingStarted,
    TrainingSucceeded,
    new_id,
)
from services.gateway.adapters.orm import ActivityRow, OutboxRow


def note(session: Session, kind: str, message: str, ref_id: str | None = None) -> ActivityRow:
    row = ActivityRow(kind=kind, message=message, ref_id=ref_id)
    session.add(row)
    session.flush()
    return row


def announce(session: Session, event: Event) -> None:
    """Queue an event in the same transaction as the change it announces (the outbox)."""
    session.add(OutboxRow(id=new_id(), message=event.to_message()))


def recent(session: Session, limit: int = 50) -> list[ActivityRow]:
    query = select(ActivityRow).order_by(ActivityRow.id.desc()).limit(limit)
    return list(session.scalars(query))


def describe(event: Event) -> tuple[str, str] | None:
    """(kind, plain-English sentence) for the events worth telling a person about."""
    match event:
        case TrainingRequested():
            return "job", f"Training was asked for on column '{event.target}'."
        case TrainingStarted():
            return "job", "Training started."
        case TrainingSucceeded():
            return "model", f"A new model is ready: {event.summary}"
        case TrainingFailed():
            return "job", f"Training did not finish: {event.error}"
        case TrainingCancelled():
            return "job", "Training was cancelled."
        case ModelDeployed():
            return "model", "A model was switched on and now answers predictions."
    return None
