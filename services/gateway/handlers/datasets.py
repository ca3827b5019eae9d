"""Use cases for datasets: register an upload, list, preview, delete."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.data.names import display_name
from services.common.data.profiling import DatasetProfile, profile_dataset
from services.common.data.reading import read_csv
from services.common.errors import Conflict, NotFound
from services.common.events import new_id
from services.common.storage import FileStore, dataset_path
from services.gateway.adapters.orm import DatasetRow, JobRow
from services.gateway.adapters.unit_of_work import collect
from services.gateway.domain.facts import DatasetDeleted, DatasetUploaded


def profile_upload(upload: Path, target: str | None) -> DatasetProfile:
    """Read and profile an uploaded file. Raises BadInput when it cannot be used.

    It parses the whole file: run it on a worker thread, before any transaction (a database
    connection is not held while a large file is read)."""
    return profile_dataset(read_csv(upload), target or None)


def register(
    session: Session, store: FileStore, upload: Path, filename: str, profile: DatasetProfile
) -> DatasetRow:
    """Keep a profiled upload as a dataset (the file is moved in last)."""
    dataset_id = new_id()
    relative = dataset_path(dataset_id)
    row = DatasetRow(
        id=dataset_id,
        name=display_name(filename),
        path=relative,
        size_bytes=upload.stat().st_size,
        rows=profile.rows,
        columns=[
            {
                "name": c.name,
                "kind": c.kind,
                "missing": c.missing,
                "unique": c.unique,
                "leaks_target": c.leaks_target,
            }
            for c in profile.columns
        ],
        target=profile.target,
        task=profile.task,
        light=profile.light,
        messages=list(profile.messages),
    )
    session.add(row)
    session.flush()
    collect(session, DatasetUploaded(dataset_id, row.name, row.rows))
    store.move_in(upload, relative)  # last: if anything above failed, nothing is kept
    return row


def get(session: Session, dataset_id: str) -> DatasetRow:
    row = session.get(DatasetRow, dataset_id)
    if row is None:
        raise NotFound(
            "We could not find that dataset. It may have been deleted.", code="dataset_not_found"
        )
    return row


def list_all(session: Session) -> list[DatasetRow]:
    return list(session.scalars(select(DatasetRow).order_by(DatasetRow.created_at.desc())))


def delete(session: Session, dataset_id: str) -> str:
    """Forget a dataset; returns its file's path, for the caller to remove once this commits
    (a leftover file is harmless, a row pointing at a missing file is not)."""
    row = get(session, dataset_id)
    training = select(JobRow.id).where(
        JobRow.dataset_id == dataset_id, JobRow.status.in_(("queued", "running"))
    )
    if session.scalars(training).first() is not None:
        raise Conflict(
            f"'{row.name}' is being used for training right now. Wait for it to finish, or "
            "cancel it, then delete the file.",
            code="busy",
        )
    session.delete(row)
    collect(session, DatasetDeleted(dataset_id, row.name))
    return row.path


def preview(store: FileStore, dataset: DatasetRow, rows: int) -> dict[str, Any]:
    """The first rows as stored. Reads the file: call it outside any transaction."""
    frame = read_csv(store.path(dataset.path)).head(rows)
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[_json_safe(v) for v in record] for record in frame.itertuples(index=False)],
    }


def _json_safe(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, (int, float, bool, str)):
        return value
    return None if str(value) in ("<NA>", "NaT", "nan") else str(value)
