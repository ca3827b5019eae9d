"""Clean-up of old data: old rows go with their files; recent ones, switched-on models (and their
training runs) and anything still waiting or running stay; nothing happens unless asked."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.bus import MemoryBus
from services.common.storage import FileStore, dataset_path, model_path, model_record_path
from services.gateway.adapters.database import Database, make_engine, migrate
from services.gateway.adapters.live import LiveHub
from services.gateway.adapters.live_news import LiveNews
from services.gateway.adapters.orm import ActivityRow, DatasetRow, JobRow, ModelRow, utcnow
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.schemas import UserSettings
from services.gateway.entrypoints.timers import Cleaner
from services.gateway.handlers import cleanup
from services.gateway.handlers import settings as user_settings
from services.gateway.handlers.announce import Announcer
from services.gateway.settings import GatewaySettings
from tests.support import eventually, model_report

LONG_AGO = utcnow() - timedelta(days=40)
LATELY = utcnow() - timedelta(days=2)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same tests on SQLite and, where several gateways really race, on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield Database(engine)
    engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files", b"k" * 32)


def new_cleaner(db: Database, store: FileStore) -> Cleaner:
    """A gateway's clean-up loop on this database; its feed lines go through the announcer
    (its live news is never started: nothing is sent live, the lines are still recorded)."""
    announcer = Announcer(db, LiveNews(MemoryBus(), LiveHub()))
    settings = GatewaySettings(cleanup_interval_s=3600, default_time_budget_s=60)
    return Cleaner(UnitOfWork(db, lambda: None, announcer.tell), store, settings)


@pytest.fixture
def cleaner(db: Database, store: FileStore) -> Cleaner:
    return new_cleaner(db, store)


def keep_for(db: Database, days: int | None) -> None:
    with db.unit_of_work() as s:
        user_settings.save(s, UserSettings(cleanup_after_days=days))


def add_dataset(db: Database, store: FileStore, dataset_id: str, when=LATELY) -> str:
    path = dataset_path(dataset_id)
    store.write_bytes(path, b"a,b\n1,2\n")
    with db.unit_of_work() as s:
        s.add(
            DatasetRow(
                id=dataset_id,
                name=f"{dataset_id}.csv",
                path=path,
                size_bytes=8,
                rows=1,
                columns=[],
                target="b",
                task="regression",
                light="green",
                messages=[],
                created_at=when,
            )
        )
    return path


def add_job(db: Database, job_id: str, dataset_id: str, status: str, when=LATELY) -> None:
    finished = when if status in ("succeeded", "failed", "cancelled") else None
    with db.unit_of_work() as s:
        s.add(
            JobRow(
                id=job_id,
                dataset_id=dataset_id,
                target="b",
                time_budget_s=10,
                status=status,
                stage="",
                model_id=f"m-{job_id}",
                created_at=when,
                finished_at=finished,
            )
        )


def add_model(db: Database, store: FileStore, job_id: str, when=LATELY, deployed=False) -> list:
    model_id = f"m-{job_id}"
    path = model_path(model_id)
    files = [path, path + ".sig", model_record_path(model_id)]
    for file in files:
        store.write_bytes(file, b"x")
    with db.unit_of_work() as s:
        s.add(
            ModelRow(
                id=model_id,
                job_id=job_id,
                dataset_id="d",
                path=path,
                report=model_report(target="b").model_dump(),
                created_at=when,
                deployed_at=when if deployed else None,
            )
        )
    return files


def ids(db: Database, table: type) -> set[str]:
    with db.unit_of_work() as s:
        return set(s.scalars(select(table.id)))


def notes(db: Database) -> list[str]:
    with db.unit_of_work() as s:
        query = select(ActivityRow.message).where(ActivityRow.kind == "cleanup")
        return list(s.scalars(query))


async def test_old_data_goes_with_its_files_and_the_rest_stays(
    db: Database, store: FileStore, cleaner: Cleaner
) -> None:
    old_file = add_dataset(db, store, "old", LONG_AGO)
    add_dataset(db, store, "recent")
    needed_file = add_dataset(db, store, "needed", LONG_AGO)
    add_job(db, "old-done", "old", "succeeded", LONG_AGO)
    old_model_files = add_model(db, store, "old-done", LONG_AGO)
    add_job(db, "old-failed", "old", "failed", LONG_AGO)
    add_job(db, "old-in-use", "old", "succeeded", LONG_AGO)
    in_use_files = add_model(db, store, "old-in-use", LONG_AGO, deployed=True)
    add_job(db, "recent-done", "recent", "succeeded")
    recent_files = add_model(db, store, "recent-done")
    add_job(db, "running", "needed", "running", LONG_AGO)
    add_job(db, "queued", "needed", "queued", LONG_AGO)
    keep_for(db, 30)

    removed = await cleaner.run()

    assert removed is not None
    assert (removed.datasets, removed.jobs, removed.models) == (1, 2, 1)
    assert ids(db, DatasetRow) == {"recent", "needed"}
    assert ids(db, JobRow) == {"old-in-use", "recent-done", "running", "queued"}
    assert ids(db, ModelRow) == {"m-old-in-use", "m-recent-done"}
    assert not any(store.exists(f) for f in [old_file, *old_model_files])
    assert all(store.exists(f) for f in [needed_file, *in_use_files, *recent_files])
    assert notes(db) == [
        "Removed 1 old dataset, 2 finished training runs and 1 model (older than 30 days); "
        "switched-on models were kept."
    ]


async def test_a_second_round_finds_nothing_and_says_nothing(
    db: Database, store: FileStore, cleaner: Cleaner
) -> None:
    add_dataset(db, store, "old", LONG_AGO)
    keep_for(db, 7)
    first, second = await cleaner.run(), await cleaner.run()
    assert first is not None and first.datasets == 1
    assert second is not None and not second
    assert len(notes(db)) == 1


async def test_nothing_happens_unless_the_settings_ask(
    db: Database, store: FileStore, cleaner: Cleaner
) -> None:
    old_file = add_dataset(db, store, "old", LONG_AGO)
    add_job(db, "old-done", "old", "succeeded", LONG_AGO)
    add_model(db, store, "old-done", LONG_AGO)

    assert await cleaner.run() is None  # never saved
    keep_for(db, None)
    assert await cleaner.run() is None

    assert ids(db, DatasetRow) == {"old"} and ids(db, JobRow) == {"old-done"}
    assert store.exists(old_file) and notes(db) == []


async def test_woken_after_settings_are_saved_it_cleans_up_at_once(
    db: Database, store: FileStore
) -> None:
    add_dataset(db, store, "old", LONG_AGO)
    cleaner = new_cleaner(db, store)
    await cleaner.start()
    try:
        await eventually(lambda: cleaner.rounds == 1, within=10)  # found no setting
        assert ids(db, DatasetRow) == {"old"}
        keep_for(db, 30)
        cleaner.wake()  # what saving the settings does; the next timed round is an hour away
        await eventually(lambda: cleaner.rounds == 2, within=10)
        assert ids(db, DatasetRow) == set()
    finally:
        await cleaner.stop()


async def test_gateways_cleaning_up_at_once_remove_each_row_once(
    db: Database, store: FileStore
) -> None:
    for n in range(30):
        add_dataset(db, store, f"old-{n}", LONG_AGO)
        add_job(db, f"job-{n}", f"old-{n}", "succeeded", LONG_AGO)
        add_model(db, store, f"job-{n}", LONG_AGO)
    keep_for(db, 30)
    replicas = [new_cleaner(db, store) for _ in range(3)]

    rounds = await asyncio.gather(*(r.run() for r in replicas))

    assert sum(r.datasets for r in rounds if r) == 30
    assert sum(r.jobs for r in rounds if r) == 30 and sum(r.models for r in rounds if r) == 30
    assert ids(db, DatasetRow) == ids(db, JobRow) == ids(db, ModelRow) == set()
    assert len(notes(db)) == sum(1 for r in rounds if r)


def test_temporary_files_a_killed_process_left_behind_are_deleted_once_old(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path, b"k" * 32)
    old_upload, fresh_upload = store.temp_file(), store.temp_file()
    half_written = store.path("models/.m1.joblib.abc.tmp")
    half_written.parent.mkdir(parents=True, exist_ok=True)
    half_written.write_bytes(b"half")
    kept = store.write_bytes("datasets/d.csv", b"a,b\n1,2\n")
    two_hours_ago = time.time() - 7200
    for path in (old_upload, half_written):
        os.utime(path, (two_hours_ago, two_hours_ago))

    assert cleanup.delete_stale_temp_files(store) == 2
    assert not old_upload.exists() and not half_written.exists()
    assert fresh_upload.exists() and kept.exists()  # a live upload, and a real file
