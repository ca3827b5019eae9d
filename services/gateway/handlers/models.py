"""Use cases for models: list, read, switch one on (deploy)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.errors import Conflict, NotFound
from services.common.events import ModelDeployed
from services.common.storage import DEPLOYED_MARKER, FileStore
from services.gateway.adapters.orm import ModelRow, utcnow
from services.gateway.adapters.outbox import enqueue
from services.gateway.adapters.unit_of_work import collect
from services.gateway.domain.facts import ModelSwitchedOn
from services.gateway.domain.schemas import Deployment, Model


def get(session: Session, model_id: str) -> ModelRow:
    row = session.get(ModelRow, model_id)
    if row is None:
        raise NotFound("We could not find that model.", code="model_not_found")
    return row


def list_all(session: Session) -> list[ModelRow]:
    return list(session.scalars(select(ModelRow).order_by(ModelRow.created_at.desc())))


def deploy(session: Session, store: FileStore, model_id: str) -> Deployment:
    row = get(session, model_id)
    if not store.exists(row.path):
        raise Conflict(
            "This model's file is missing, so it cannot be switched on.", code="model_file_missing"
        )
    row.deployed_at = now = utcnow()
    event = ModelDeployed(
        correlation_id=row.id, model_id=row.id, model_path=row.path, deployed_at=now
    )
    enqueue(session, event)
    session.flush()
    collect(session, ModelSwitchedOn(Model.of(row)))
    # A predictor that starts later reads this to know which model is the default.
    store.write_json(
        DEPLOYED_MARKER,
        {"model_id": row.id, "model_path": row.path, "deployed_at": now},
    )
    return Deployment(model_id=row.id, deployed_at=now)


def resolve_for_prediction(session: Session, model_id: str | None) -> ModelRow:
    """The model a prediction should use: the one asked for, else the one switched on last."""
    if model_id:
        row = get(session, model_id)
        if row.deployed_at is None:
            raise Conflict(
                "This model is not switched on yet. Choose 'Use this model' first.",
                code="model_not_deployed",
            )
        return row
    query = (
        select(ModelRow)
        .where(ModelRow.deployed_at.is_not(None))
        .order_by(ModelRow.deployed_at.desc())
    )
    latest = session.scalars(query.limit(1)).first()
    if latest is None:
        raise Conflict(
            "No model is switched on yet. Train one and choose 'Use this model'.",
            code="no_model_deployed",
        )
    return latest
