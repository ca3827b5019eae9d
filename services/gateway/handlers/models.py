"""Use cases for models: list, read, switch one on (deploy)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.errors import Conflict, NotFound, Unavailable
from services.common.events import ModelDeployed
from services.common.storage import DEPLOYED_MARKER, FileStore
from services.gateway.adapters.orm import ModelRow, utcnow
from services.gateway.adapters.outbox import enqueue
from services.gateway.adapters.unit_of_work import collect
from services.gateway.domain.facts import ModelSwitchedOn
from services.gateway.domain.schemas import Deployment, Model

log = logging.getLogger(__name__)


class SwitchedOn:
    """The models this replica last saw switched on, so predictions keep working while the
    database is away: the predictors hold the models, the database only says which are on."""

    def __init__(self, skip_database_s: float = 10.0) -> None:
        self._ids: set[str] = set()
        self._skip_s = skip_database_s
        self._away_since: float | None = None

    def saw(self, model_id: str) -> None:
        self._ids.add(model_id)
        self._away_since = None

    def database_away(self) -> None:
        """The database just failed: predictions skip it for a few seconds, so a silent one
        (each call waiting out its timeout) does not slow every prediction down."""
        self._away_since = time.monotonic()

    @property
    def skip_database(self) -> bool:
        away = self._away_since
        return away is not None and time.monotonic() - away < self._skip_s

    def while_database_away(self, model_id: str | None) -> str | None:
        """The model to ask the predictor for (None: its default, the one switched on last,
        which every predictor heard of); raises if this replica cannot vouch for `model_id`."""
        if model_id is None or model_id in self._ids:
            return model_id
        raise Unavailable(
            "The database is not answering right now, so we cannot check that this model is "
            "switched on. Ask without a model id to use the one switched on last, or try again "
            "in a moment.",
            code="database_unavailable",
        )


def check_deployable(session: Session, store: FileStore, model_id: str) -> ModelRow:
    """The model, if it exists and its file is there (404 / 409 otherwise)."""
    row = get(session, model_id)
    if not store.exists(row.path):
        raise Conflict(
            "This model's file is missing, so it cannot be switched on.", code="model_file_missing"
        )
    return row


def get(session: Session, model_id: str) -> ModelRow:
    row = session.get(ModelRow, model_id)
    if row is None:
        raise NotFound("We could not find that model.", code="model_not_found")
    return row


def list_all(session: Session) -> list[ModelRow]:
    return list(session.scalars(select(ModelRow).order_by(ModelRow.created_at.desc())))


def deploy(session: Session, store: FileStore, model_id: str) -> Deployment:
    """Switch the model on (call once a predictor has loaded it)."""
    row = check_deployable(session, store, model_id)
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


def upgrade_signatures(session: Session, store: FileStore) -> int:
    """Re-sign, in the current format, the model files this database knows that still carry
    an older signature (an installation upgraded); how many. Blocking: run it in a thread."""
    upgraded = 0
    for row in list_all(session):
        if store.upgrade_signature(row.path):
            upgraded += 1
    if upgraded:
        log.info("upgraded the signatures of %d model files", upgraded)
    return upgraded
