"""Migrations keep what an older version stored: a model recorded column by column before the
one-report schema (0002) reads back the same through the API's Model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.gateway.adapters.database import Database, make_engine, migrate
from services.gateway.adapters.orm import JobRow, ModelRow
from services.gateway.domain.schemas import Job, Model

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OLD_MODEL = {
    "task": "classification",
    "target": "churn",
    "algorithm": "Random forest",
    "score_name": "balanced_accuracy",
    "score": 0.81,
    "metrics": {"accuracy": 0.84},
    "light": "green",
    "light_reason": "Well above a simple guess.",
    "summary": "Right about 84 times out of 100.",
    "notes": ["2 columns have gaps; we filled them in."],
    "leaderboard": [{"algorithm": "Random forest", "score": 0.81, "fit_seconds": 1.5}],
    "feature_importance": [{"feature": "tenure", "importance": 0.3}],
    "features": [{"name": "tenure", "kind": "numeric"}],
    "versions": {"sklearn": "1.5.0"},
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def old_rows(connection: sa.Connection) -> None:
    """What version 0001 stored for a finished job, a queued one and their model."""
    meta = sa.MetaData()
    jobs, models = (sa.Table(name, meta, autoload_with=connection) for name in ("jobs", "models"))
    job = dict(
        dataset_id="d",
        target="churn",
        time_budget_s=60,
        algorithm="auto",
        progress=1.0,
        stage="Finished",
        attempts=1,
        created_at=WHEN,
        updated_at=WHEN,
    )
    connection.execute(
        jobs.insert(),
        [
            {**job, "id": "done", "status": "succeeded", "model_id": "m1"},
            {**job, "id": "waiting", "status": "queued", "model_id": "m2", "progress": 0.0},
        ],
    )
    connection.execute(
        models.insert(),
        [
            {
                **OLD_MODEL,
                "id": "m1",
                "job_id": "done",
                "dataset_id": "d",
                "path": "models/m1.joblib",
                "created_at": WHEN,
                "deployed_at": WHEN,
            }
        ],
    )


def test_a_model_stored_before_the_report_column_reads_back_the_same(engine: sa.Engine) -> None:
    migrate(engine, "0001")
    with engine.begin() as connection:
        old_rows(connection)

    migrate(engine)

    with Database(engine).unit_of_work() as session:
        model = Model.of(session.get(ModelRow, "m1"))
        done, waiting = Job.of(session.get(JobRow, "done")), Job.of(session.get(JobRow, "waiting"))
    assert model.model_dump(include=set(OLD_MODEL)) == OLD_MODEL
    assert model.deployed and model.id == "m1" and model.job_id == "done"
    assert done.model_id == "m1"  # the job kept its model: now a field, not read from its stage
    assert waiting.model_id is None
    columns = {c["name"] for c in sa.inspect(engine).get_columns("models")}
    assert "report" in columns and not columns & {"score", "summary", "leaderboard"}


def test_going_back_to_0001_restores_the_columns(engine: sa.Engine) -> None:
    migrate(engine, "0001")
    with engine.begin() as connection:
        old_rows(connection)
    migrate(engine)

    migrate(engine, "0001", down=True)

    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM models WHERE id = 'm1'")).mappings().one()
        assert {name: row[name] for name in ("score", "light", "target")} == {
            "score": 0.81,
            "light": "green",
            "target": "churn",
        }
    assert "has_model" not in {c["name"] for c in sa.inspect(engine).get_columns("jobs")}
    migrate(engine)  # and forward again
