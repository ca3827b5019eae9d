"""Use cases for training jobs: ask for one, cancel one, and record what the trainer reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.data.profiling import profile_dataset
from services.common.data.reading import read_csv
from services.common.errors import Conflict, NotFound
from services.common.events import (
    TrainingCancelled,
    TrainingCancelRequested,
    TrainingFailed,
    TrainingProgressed,
    TrainingRequested,
    TrainingStarted,
    TrainingSucceeded,
    new_id,
)
from services.common.storage import FileStore
from services.gateway.adapters.orm import DatasetRow, JobRow, ModelRow, utcnow
from services.gateway.adapters.outbox import enqueue
from services.gateway.adapters.unit_of_work import collect
from services.gateway.domain.facts import (
    JobCancelled,
    JobChanged,
    JobFailed,
    JobQueued,
    JobStarted,
    ModelTrained,
)
from services.gateway.domain.schemas import Job, JobRequest, Model, UserSettings
from services.gateway.handlers import datasets
from services.gateway.handlers.activity import STOPPED_EARLY

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")


def check_target(store: FileStore, dataset: DatasetRow, target: str | None) -> None:
    """A target other than the profiled one is checked now, with a plain answer, rather than
    minutes later in training. Reads the file: call it outside any transaction."""
    if target and target != dataset.target:
        profile_dataset(read_csv(store.path(dataset.path)), target)


def create(session: Session, request: JobRequest, defaults: UserSettings) -> JobRow:
    dataset = datasets.get(session, request.dataset_id)
    target = request.target or dataset.target
    job = JobRow(
        id=new_id(),
        dataset_id=dataset.id,
        target=target,
        time_budget_s=request.time_budget_s or defaults.time_budget_s,
        algorithm=defaults.algorithm,
        status="queued",
        progress=0.0,
        stage="Waiting for a free trainer",
        model_id=new_id(),
        has_model=False,
    )
    session.add(job)
    enqueue(session, _request(job, dataset))
    session.flush()
    collect(session, JobQueued(Job.of(job), dataset.name))
    return job


def _request(job: JobRow, dataset: DatasetRow) -> TrainingRequested:
    """The request a trainer takes: the same every time it is asked for (same model id)."""
    return TrainingRequested(
        correlation_id=job.id,
        job_id=job.id,
        model_id=job.model_id,
        dataset_id=dataset.id,
        dataset_path=dataset.path,
        target=job.target,
        time_budget_s=job.time_budget_s,
        algorithm=job.algorithm,
    )


def get(session: Session, job_id: str) -> JobRow:
    job = session.get(JobRow, job_id)
    if job is None:
        raise NotFound("We could not find that training run.", code="job_not_found")
    return job


def list_all(session: Session, limit: int = 200) -> list[JobRow]:
    return list(session.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)))


def cancel(session: Session, job_id: str) -> JobRow:
    job = get(session, job_id)
    if job.status == "cancelled":
        return job
    if job.status in FINISHED:
        raise Conflict(
            "This training has already finished, so there is nothing to cancel.",
            code="job_finished",
        )
    _finish(job, "cancelled", "Cancelled")
    enqueue(session, TrainingCancelRequested(correlation_id=job.id, job_id=job.id))
    collect(session, JobCancelled(Job.of(job)))
    return job


def _finish(job: JobRow, status: str, stage: str, error: str | None = None) -> None:
    job.status, job.stage, job.error = status, stage, error
    job.finished_at = utcnow()
    job.eta_s = None
    if status == "succeeded":
        job.progress = 1.0


def _locked(session: Session, job_id: str) -> JobRow | None:
    """The job row, locked until commit: updates about one job are applied one at a time."""
    return session.get(JobRow, job_id, with_for_update=True)


def record_started(session: Session, event: TrainingStarted) -> None:
    job = _locked(session, event.job_id)
    if job is None:
        return
    if job.status == "cancelled":
        # The trainer missed the cancel (e.g. it started later): tell it again.
        enqueue(session, TrainingCancelRequested(correlation_id=job.id, job_id=job.id))
        return
    if job.status in ACTIVE:
        job.attempts += 1
        job.status, job.stage = "running", "Starting"
        job.started_at = job.started_at or event.occurred_at
        collect(session, JobStarted(Job.of(job)))


def record_progress(session: Session, event: TrainingProgressed) -> None:
    job = _locked(session, event.job_id)
    if job is None or job.status not in ACTIVE:
        return
    job.status = "running"
    job.started_at = job.started_at or event.occurred_at
    if event.progress >= job.progress:  # events may arrive out of order: progress never goes back
        job.progress, job.stage, job.eta_s = event.progress, event.stage[:255], event.eta_s
    collect(session, JobChanged(Job.of(job)))


def record_succeeded(session: Session, store: FileStore, event: TrainingSucceeded) -> bool:
    """Record the model. True only for the call that moved the job from waiting or running
    to succeeded: a redelivered event, or one for a job already over, answers False."""
    job = _locked(session, event.job_id)
    if job is None or session.get(ModelRow, event.model_id) is not None:
        return False  # unknown job, or a redelivered success already recorded: one model per job
    was_active = job.status in ACTIVE
    stopped_early = job.status == "cancelled"
    if stopped_early and job.started_at is None:
        store.delete(event.model_path)  # cancelled before it began: nothing is kept
        store.delete(event.model_path + ".sig")
        return False
    model = ModelRow(
        id=event.model_id,
        job_id=job.id,
        dataset_id=event.dataset_id,
        path=event.model_path,
        report=event.report.model_dump(mode="json"),
        created_at=utcnow(),
    )
    session.add(model)
    job.model_id, job.has_model = event.model_id, True
    if stopped_early:  # a cancelled training hands in the best model it had found
        job.stage = STOPPED_EARLY
    else:
        _finish(job, "succeeded", "Finished")
    collect(session, ModelTrained(Job.of(job), Model.of(model), stopped_early=stopped_early))
    return was_active and not stopped_early


def record_failed(session: Session, event: TrainingFailed) -> bool:
    """True only for the call that moved the job to failed (not for a redelivered event)."""
    job = _locked(session, event.job_id)
    if job is None or job.status in FINISHED:
        return False
    _finish(job, "failed", "Stopped", error=event.error)
    collect(session, JobFailed(Job.of(job)))
    return True


def record_cancelled(session: Session, event: TrainingCancelled) -> None:
    job = _locked(session, event.job_id)
    if job is not None and job.status in ACTIVE:
        _finish(job, "cancelled", "Cancelled")
        collect(session, JobChanged(Job.of(job)))


def requeue_orphans(
    session: Session, claimed: set[str], quiet_since: datetime, max_attempts: int
) -> list[JobRow]:
    """Running jobs that no live trainer claims and that have been quiet: their trainer died.
    A trainer acks a job's message once it starts, so the job is asked for again here (the
    same request: same model id) and shows as waiting -- unless it has already been tried
    `max_attempts` times, when it is given up on."""
    query = select(JobRow).where(JobRow.status == "running", JobRow.updated_at < quiet_since)
    changed = []
    for job in session.scalars(query.with_for_update(skip_locked=True)):
        if job.id in claimed:
            continue
        dataset = session.get(DatasetRow, job.dataset_id)
        if job.attempts >= max_attempts or dataset is None:
            _finish(job, "failed", "Stopped", error=_KEEPS_STOPPING)
            collect(session, JobFailed(Job.of(job)))
        else:
            job.status, job.stage, job.eta_s = "queued", "Waiting for a free trainer", None
            enqueue(session, _request(job, dataset))
            collect(session, JobChanged(Job.of(job)))
        changed.append(job)
    return changed


_KEEPS_STOPPING = (
    "Training kept stopping before it could finish, often because the computer ran out of "
    "memory. Try a smaller file or a shorter time limit."
)


def without_model(session: Session, since: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(job id, model id) of jobs created since `since` that have no model recorded, in any
    status: the reconciler looks for a finished model file whose outcome never arrived."""
    query = (
        select(JobRow.id, JobRow.model_id)
        .where(JobRow.has_model.is_(False), JobRow.created_at >= since)
        .order_by(JobRow.created_at.desc())
        .limit(limit)
    )
    return [(job_id, model_id) for job_id, model_id in session.execute(query)]
