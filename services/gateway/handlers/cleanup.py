"""Removes old data when the saved settings ask for it ("delete data older than N days").

What goes, and what stays:
- A model made more than N days ago goes, with its files, unless it was ever switched on
  (`deployed_at` set): predictions may still name it, so it stays, and so does its training run.
- A finished training run (succeeded, failed, cancelled) that ended more than N days ago goes,
  unless its model stays. Waiting or running ones are never touched.
- A dataset uploaded more than N days ago goes, with its file, even when a model that stays was
  made from it: the model's own file is all predicting needs (models/, apart from datasets/).
  Only a dataset a waiting or running training still has to read stays.

Rows go in one unit of work and files after its commit: a leftover file is harmless, a row
pointing at a missing file is not. Several gateways may clean up at once: each locks the rows it
removes (SKIP LOCKED on PostgreSQL; SQLite lets one writer in at a time) and deletes by id, so a
row already gone is a no-op and each removal is counted and told once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from services.common.storage import FileStore, model_record_path
from services.gateway.adapters.orm import Base, DatasetRow, JobRow, ModelRow, utcnow
from services.gateway.adapters.unit_of_work import collect
from services.gateway.domain.facts import OldDataRemoved
from services.gateway.handlers import settings as user_settings
from services.gateway.handlers.jobs import ACTIVE, FINISHED

log = logging.getLogger(__name__)
_CHUNK = 500  # ids per DELETE, well under SQLite's limit on query parameters


@dataclass
class Removed:
    datasets: int = 0
    jobs: int = 0
    models: int = 0
    files: list[str] = field(default_factory=list)
    """Relative paths to delete once the rows' removal is committed."""

    def __bool__(self) -> bool:
        return bool(self.datasets or self.jobs or self.models)

    def sentence(self, days: int) -> str:
        parts = [
            _count(self.datasets, "old dataset"),
            _count(self.jobs, "finished training run"),
            _count(self.models, "model"),
        ]
        said = [p for p in parts if p]
        listed = ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]
        return f"Removed {listed} (older than {_count(days, 'day')}); switched-on models were kept."


def remove_old(session: Session, older_than: datetime) -> Removed:
    """Delete the rows the rules above allow; the caller deletes `files` after committing."""
    removed = Removed()
    models = _lock(
        session,
        select(ModelRow).where(ModelRow.created_at < older_than, ModelRow.deployed_at.is_(None)),
    )
    removed.models = _delete(session, ModelRow, [m.id for m in models])
    for m in models:
        removed.files += [m.path, m.path + ".sig", model_record_path(m.id)]
    # After the models above are gone, so a run whose model was just removed goes too.
    kept_models = select(ModelRow.job_id)
    jobs = _lock(
        session,
        select(JobRow).where(
            JobRow.status.in_(FINISHED),
            func.coalesce(JobRow.finished_at, JobRow.created_at) < older_than,
            JobRow.id.not_in(kept_models),
        ),
    )
    removed.jobs = _delete(session, JobRow, [j.id for j in jobs])
    still_needed = select(JobRow.dataset_id).where(JobRow.status.in_(ACTIVE))
    datasets = _lock(
        session,
        select(DatasetRow).where(
            DatasetRow.created_at < older_than, DatasetRow.id.not_in(still_needed)
        ),
    )
    removed.datasets = _delete(session, DatasetRow, [d.id for d in datasets])
    removed.files += [d.path for d in datasets]
    return removed


def _lock(session: Session, query: Select) -> list:  # type: ignore[type-arg]
    """Rows no other gateway is removing right now (PostgreSQL; SQLite ignores the lock)."""
    return list(session.scalars(query.with_for_update(skip_locked=True)))


def _delete(session: Session, table: type[Base], ids: Sequence[str]) -> int:
    """Delete by id without the ORM's "expected one row" check: a row already gone is fine."""
    column = table.__table__.c.id  # type: ignore[attr-defined]
    count = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        result = session.execute(delete(table).where(column.in_(chunk)))
        count += result.rowcount  # type: ignore[attr-defined]
    return count


def clean_up(session: Session, default_budget_s: int) -> Removed | None:
    """One round's rows: None when the saved settings keep everything. The caller deletes the
    files it names once this commits (`delete_files`)."""
    days = user_settings.load(session, default_budget_s).cleanup_after_days
    if days is None:
        return None
    removed = remove_old(session, utcnow() - timedelta(days=days))
    if removed:
        collect(session, OldDataRemoved(removed.sentence(days)))
        counts = {"datasets": removed.datasets, "jobs": removed.jobs, "models": removed.models}
        log.info("old data removed", extra=counts)
    return removed


def delete_files(store: FileStore, paths: Sequence[str]) -> None:
    """Delete files whose rows are gone (blocking: run it in a thread)."""
    for path in paths:
        try:
            store.delete(path)
        except OSError as exc:  # the rows are gone; a leftover file only takes space
            log.warning("clean-up could not delete %s: %s", path, exc)


def delete_stale_temp_files(store: FileStore, older_than_s: float = 3600.0) -> int:
    """Temporary files a killed process left behind (an upload cut short, a write interrupted
    before its rename); how many were deleted. Only old ones: a live upload keeps its file
    fresh, and one may take many minutes on a slow link. Blocking: run it in a thread."""
    cutoff = time.time() - older_than_s
    deleted = 0
    for temp in store.root.rglob(".*.tmp"):
        try:
            if temp.is_file() and temp.stat().st_mtime < cutoff:
                temp.unlink()
                deleted += 1
        except OSError as exc:  # gone meanwhile, or not ours to delete: leave it
            log.debug("could not delete %s: %s", temp, exc)
    if deleted:
        log.info("deleted %d temporary files left behind", deleted)
    return deleted


def _count(n: int, noun: str) -> str:
    if n == 0:
        return ""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
