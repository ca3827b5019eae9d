"""Job bookkeeping: progress never goes back, one model per job, orphans are requeued."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.events import (
    TrainingProgressed,
    TrainingRequested,
    TrainingStarted,
    parse_event,
)
from services.common.storage import FileStore
from services.gateway.adapters.database import Database, make_engine, migrate
from services.gateway.adapters.orm import DatasetRow, JobRow, ModelRow, OutboxRow, utcnow
from services.gateway.domain.schemas import Job
from services.gateway.handlers import jobs
from tests.support import training_succeeded


@pytest.fixture
def db(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    migrate(engine)
    return Database(engine)


def add_job(db: Database, job_id: str, status: str = "queued", attempts: int = 0) -> None:
    with db.unit_of_work() as session:
        session.add(
            JobRow(
                id=job_id,
                dataset_id="d",
                target="t",
                time_budget_s=10,
                status=status,
                stage="",
                model_id=f"m-{job_id}",
                attempts=attempts,
            )
        )


def test_progress_is_monotonic_and_start_counts_attempts(db: Database) -> None:
    add_job(db, "j")
    with db.unit_of_work() as s:
        jobs.record_started(s, TrainingStarted(job_id="j", worker="w"))
        jobs.record_progress(s, TrainingProgressed(job_id="j", progress=0.5, stage="Training"))
        jobs.record_progress(s, TrainingProgressed(job_id="j", progress=0.3, stage="Old news"))
    with db.unit_of_work() as s:
        job = jobs.get(s, "j")
        assert (job.status, job.progress, job.stage, job.attempts) == (
            "running",
            0.5,
            "Training",
            1,
        )


def test_a_redelivered_success_records_one_model(db: Database, tmp_path: Path) -> None:
    add_job(db, "j", "running")
    event = training_succeeded(job_id="j", model_id="m-j", model_path="models/m-j.joblib")
    store = FileStore(tmp_path / "files", b"k" * 32)
    for _ in range(2):
        with db.unit_of_work() as s:
            jobs.record_succeeded(s, store, event)
    with db.unit_of_work() as s:
        assert s.query(ModelRow).count() == 1 and jobs.get(s, "j").status == "succeeded"


def test_orphaned_running_jobs_are_asked_for_again_or_fail(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add(
            DatasetRow(
                id="d",
                name="d.csv",
                path="datasets/d.csv",
                size_bytes=1,
                rows=10,
                columns=[],
                target="t",
                task="classification",
                light="green",
                messages=[],
            )
        )
    add_job(db, "orphan", "running", attempts=1)
    add_job(db, "hopeless", "running", attempts=5)
    add_job(db, "claimed", "running", attempts=1)
    later = utcnow() + timedelta(seconds=60)
    with db.unit_of_work() as s:
        changed = jobs.requeue_orphans(s, {"claimed"}, later, max_attempts=5)
        assert sorted(j.id for j in changed) == ["hopeless", "orphan"]
    with db.unit_of_work() as s:
        assert jobs.get(s, "orphan").status == "queued"
        # Its trainer acked the job's message when it started: the request goes out again.
        [again] = [parse_event(row.message) for row in s.scalars(select(OutboxRow))]
        assert isinstance(again, TrainingRequested)
        assert (again.job_id, again.model_id, again.dataset_path) == (
            "orphan",
            "m-orphan",
            "datasets/d.csv",
        )
        assert (
            jobs.get(s, "hopeless").status == "failed" and "memory" in jobs.get(s, "hopeless").error
        )
        assert jobs.get(s, "claimed").status == "running"
        # Recently active jobs are left alone even when unclaimed (their trainer just started).
        assert jobs.requeue_orphans(s, set(), utcnow() - timedelta(seconds=60), 5) == []


def test_a_job_stopped_mid_training_keeps_the_model_it_hands_in(
    db: Database, tmp_path: Path
) -> None:
    add_job(db, "started", "running")
    add_job(db, "never", "queued")
    store = FileStore(tmp_path / "files", b"k" * 32)
    with db.unit_of_work() as s:
        jobs.record_started(s, TrainingStarted(job_id="started", worker="w"))
        jobs.cancel(s, "started")
        jobs.cancel(s, "never")
    for job_id in ("started", "never"):
        path = f"models/m-{job_id}.joblib"
        store.write_bytes(path, b"model")
        with db.unit_of_work() as s:
            event = training_succeeded(job_id=job_id, model_id=f"m-{job_id}", model_path=path)
            jobs.record_succeeded(s, store, event)
    with db.unit_of_work() as s:
        kept = Job.of(jobs.get(s, "started"))
        assert kept.status == "cancelled" and kept.model_id == "m-started"
        assert kept.stage.startswith("Stopped early")
        assert Job.of(jobs.get(s, "never")).model_id is None  # cancelled before it began
        assert [m.id for m in s.query(ModelRow)] == ["m-started"]
    assert not store.exists("models/m-never.joblib")
