"""What must hold after every fault, read straight from the database and the data folder (never
through the proxies or the gateway, which the faults may have broken):

- every job ends exactly once in a final status (succeeded / failed / cancelled) within a
  bound, with at most one model, and a succeeded job with exactly the model it was given;
- no model file without its row and no model row without its file (datasets alike), and no
  temporary file left behind once nothing is in flight;
- nothing dead-lettered;
- no prediction failed while a live replica could have answered it (load.py counts them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import sqlalchemy as sa
from aio_pika.exceptions import ChannelClosed
from sqlalchemy.orm import Session

from services.common.bus.amqp import dead_letter_queue
from services.common.events import WORK_QUEUES
from services.common.storage import DATASETS, MODELS
from services.gateway.adapters.database import normalize_url
from services.gateway.adapters.orm import ActivityRow, DatasetRow, JobRow, ModelRow

FINAL = ("succeeded", "failed", "cancelled")
_NOT_AN_END = ("Training on", "Training started")  # the feed's "queued" and "started" lines


class Invariants:
    """Checks one installation: its database (a direct URL) and its data folder."""

    def __init__(self, database_url: str, data_dir: Path, amqp_url: str, namespace: str):
        self.engine = sa.create_engine(normalize_url(database_url), poolclass=sa.pool.NullPool)
        self.data_dir = data_dir
        self._amqp_url, self._namespace = amqp_url, namespace

    def close(self) -> None:
        self.engine.dispose()

    # -- reading ---------------------------------------------------------------------------

    def job(self, job_id: str) -> JobRow:
        with Session(self.engine) as session:
            row = session.get(JobRow, job_id)
            assert row is not None, f"job {job_id} has no row"
            return row

    def models_of(self, job_id: str) -> list[ModelRow]:
        with Session(self.engine) as session:
            return list(session.scalars(sa.select(ModelRow).where(ModelRow.job_id == job_id)))

    def dead_letters(self) -> dict[str, int]:
        """Messages in each dead-letter queue now (a missing queue counts as empty)."""
        return asyncio.run(self._dead_letters())

    async def _dead_letters(self) -> dict[str, int]:
        counts = {}
        connection = await aio_pika.connect(self._amqp_url)
        async with connection:
            for queue in WORK_QUEUES:
                name = dead_letter_queue(f"{self._namespace}.{queue}")
                channel = await connection.channel()  # a passive miss closes its channel
                try:
                    declared = await channel.declare_queue(name, passive=True)
                    counts[name] = declared.declaration_result.message_count or 0
                except ChannelClosed:
                    counts[name] = 0
        return counts

    # -- waiting ---------------------------------------------------------------------------

    def wait_final(self, job_ids: Iterable[str], within: float = 120) -> dict[str, JobRow]:
        """Every job in a final status, polled from the database; fails after `within` s."""
        waiting = set(job_ids)
        done: dict[str, JobRow] = {}
        deadline = time.monotonic() + within
        while waiting:
            for job_id in list(waiting):
                row = self.job(job_id)
                if row.status in FINAL:
                    done[job_id] = row
                    waiting.discard(job_id)
            if not waiting:
                break
            if time.monotonic() > deadline:
                stuck = {j: (self.job(j).status, self.job(j).stage) for j in waiting}
                raise AssertionError(f"jobs not finished within {within:g} s: {stuck}")
            time.sleep(0.2)
        return done

    # -- checking --------------------------------------------------------------------------

    def check_job(self, job_id: str) -> JobRow:
        """The job is over, once, with at most one model, and a success with its own model."""
        job = self.job(job_id)
        assert job.status in FINAL, f"job {job_id} is still {job.status!r}"
        assert job.finished_at is not None, f"job {job_id} is {job.status} without an end time"
        models = self.models_of(job_id)
        assert len(models) <= 1, f"job {job_id} has {len(models)} models"
        if job.status == "succeeded":
            assert [m.id for m in models] == [job.model_id], (
                f"succeeded job {job_id} should have exactly its model {job.model_id}, "
                f"has {[m.id for m in models]}"
            )
        endings = self._endings(job)
        limit = 2 if job.status == "cancelled" else 1  # cancelled, then "stopped early"
        assert len(endings) <= limit, f"job {job_id} ended more than once: {endings}"
        return job

    def _endings(self, job: JobRow) -> list[str]:
        """The activity lines that tell a job ended (finished, failed, cancelled)."""
        with Session(self.engine) as session:
            lines = session.scalars(
                sa.select(ActivityRow).where(ActivityRow.ref_id.in_([job.id, job.model_id]))
            )
            return [
                line.message
                for line in lines
                if (line.kind == "job" and not line.message.startswith(_NOT_AN_END))
                or (line.kind == "model" and "switched on" not in line.message)
            ]

    def check_files(self, since: float) -> None:
        """Rows and files agree; nothing temporary is left. Files and rows made before `since`
        (a time.time()) belong to earlier tests, which judged them."""
        since_db = datetime.fromtimestamp(since, UTC)
        with Session(self.engine) as session:
            models = list(session.scalars(sa.select(ModelRow)))
            datasets = list(session.scalars(sa.select(DatasetRow)))
            active = set(
                session.scalars(
                    sa.select(JobRow.model_id).where(JobRow.status.in_(("queued", "running")))
                )
            )
        for row in models:
            if row.created_at >= since_db:
                for path in (row.path, row.path + ".sig"):  # the predictor needs both
                    assert (self.data_dir / path).is_file(), f"model {row.id} has no {path}"
        for dataset in datasets:
            if dataset.created_at >= since_db:
                assert (self.data_dir / dataset.path).is_file(), f"dataset {dataset.id} has no file"
        model_rows = {row.id for row in models} | active  # an active job's file comes first
        orphans = [p.name for p in self._new_files(MODELS, "*.joblib", since)]
        orphans = [name for name in orphans if Path(name).stem not in model_rows]
        assert orphans == [], f"model files without a model row: {orphans}"
        dataset_rows = {Path(dataset.path).name for dataset in datasets}
        orphans = [p.name for p in self._new_files(DATASETS, "*.csv", since)]
        orphans = [name for name in orphans if name not in dataset_rows]
        assert orphans == [], f"dataset files without a dataset row: {orphans}"
        temps = [
            f"{folder}/{p.name}"
            for folder in (DATASETS, MODELS)
            for p in self._new_files(folder, "*.tmp", since)
        ]
        assert temps == [], f"temporary files left behind: {temps}"

    def _new_files(self, folder: str, pattern: str, since: float) -> list[Path]:
        found = []
        for path in (self.data_dir / folder).glob(pattern):
            try:
                if path.stat().st_mtime >= since - 1:  # file times are coarse on some systems
                    found.append(path)
            except FileNotFoundError:
                pass  # gone meanwhile
        return found

    def check(
        self,
        job_ids: Iterable[str],
        since: float,
        dead_before: dict[str, int],
        within: float = 120,
    ) -> dict[str, JobRow]:
        """All of it: the jobs end within `within` s, each once; rows and files agree;
        nothing was dead-lettered since `dead_before` was read."""
        jobs = list(job_ids)
        self.wait_final(jobs, within)
        rows = {job_id: self.check_job(job_id) for job_id in jobs}
        self.check_files(since)
        assert self.dead_letters() == dead_before, "messages were dead-lettered"
        return rows
