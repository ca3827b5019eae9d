"""One event path after commit: what a handler reports reaches the activity feed and the live
pages once, with one wording, only after its transaction committed; nothing re-reads the
database to catch up with a race."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.bus import MemoryBus
from services.common.events import DashboardChanged, TrainingProgressed, TrainingStarted
from services.gateway.adapters.database import Database, make_engine, migrate
from services.gateway.adapters.live import LiveHub
from services.gateway.adapters.live_news import LiveNews
from services.gateway.adapters.orm import ActivityRow
from services.gateway.adapters.unit_of_work import UnitOfWork, collect
from services.gateway.domain.facts import DatasetUploaded, Fact
from services.gateway.handlers.announce import Announcer
from tests.support import churn_csv, eventually, gateway_alone


class Seen:
    """Stands in for the pages: every message a hub sends them."""

    def __init__(self, hub: LiveHub) -> None:
        self.messages: list[tuple[str, Any]] = []
        send = hub.broadcast

        def broadcast(kind: str, data: Any) -> None:
            self.messages.append((kind, data))
            send(kind, data)

        hub.broadcast = broadcast  # type: ignore[method-assign]

    def of(self, kind: str) -> list[Any]:
        return [data for k, data in self.messages if k == kind]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    migrate(engine)
    yield Database(engine)
    engine.dispose()


async def upload(api: httpx.AsyncClient) -> dict[str, Any]:
    files = {"file": ("churn.csv", churn_csv(), "text/csv")}
    answer = await api.post("/api/datasets", files=files)
    assert answer.status_code == 201
    return dict(answer.json())


async def test_an_upload_is_told_once_with_the_words_the_feed_keeps(tmp_path: Path) -> None:
    async with gateway_alone(tmp_path) as (api, service):
        seen = Seen(service.gateway.hub)
        dataset = await upload(api)

        pushed = await eventually(lambda: seen.of("activity"), within=10)
        stored = (await api.get("/api/activity")).json()["items"]
        assert len(pushed) == 1 and pushed[0]["ref_id"] == dataset["id"]
        assert pushed[0]["message"] == stored[0]["message"] == "'churn.csv' was uploaded: 300 rows."
        assert pushed[0]["id"] == stored[0]["id"]  # the very line that was saved


async def test_a_job_is_sent_live_as_it_was_committed(tmp_path: Path) -> None:
    async with gateway_alone(tmp_path) as (api, service):
        dataset = await upload(api)
        job = (await api.post("/api/jobs", json={"dataset_id": dataset["id"]})).json()
        seen = Seen(service.gateway.hub)

        # A trainer's reports, as the records queue hands them over.
        await service.recorder.record(TrainingStarted(job_id=job["id"], worker="w"))
        await service.recorder.record(
            TrainingProgressed(job_id=job["id"], progress=0.4, stage="Trying approaches")
        )

        views = await eventually(lambda: [v for v in seen.of("job") if v["progress"] == 0.4])
        assert views[0]["stage"] == "Trying approaches" and views[0]["status"] == "running"
        started = [a for a in seen.of("activity") if a["ref_id"] == job["id"]]
        stored = (await api.get("/api/activity")).json()["items"]
        assert [a["message"] for a in started] == ["Training started."]
        assert started[0]["id"] in {a["id"] for a in stored}
        # An older report arriving late never moves the page backwards.
        await service.recorder.record(
            TrainingProgressed(job_id=job["id"], progress=0.2, stage="Old news")
        )
        last = await eventually(lambda: seen.of("job")[-1] if len(seen.of("job")) > 2 else None)
        assert (last["progress"], last["stage"]) == (0.4, "Trying approaches")


async def test_a_unit_of_work_that_fails_tells_nothing(db: Database) -> None:
    told: list[Fact] = []

    async def after_commit(facts: Any) -> None:
        told.extend(facts)

    uow = UnitOfWork(db, lambda: None, after_commit)

    def fails(session: Session) -> None:
        collect(session, DatasetUploaded("d", "x.csv", 3))
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await uow.run(fails)
    assert told == []

    await uow.run(lambda session: collect(session, DatasetUploaded("d", "x.csv", 3)))
    assert told == [DatasetUploaded("d", "x.csv", 3)]


async def test_the_announcer_records_and_sends_the_same_line(db: Database) -> None:
    bus = MemoryBus()
    await bus.start()
    sent: list[DashboardChanged] = []

    async def page(event: DashboardChanged) -> None:
        sent.append(event)

    await bus.consume_broadcast(page)
    news = LiveNews(bus, LiveHub())
    await news.start()
    try:
        await Announcer(db, news).tell([DatasetUploaded("d1", "sales.csv", 12)])
        told = await eventually(lambda: sent, within=5)
    finally:
        await news.stop()
        await bus.close()
    with db.unit_of_work() as session:
        line = session.scalars(select(ActivityRow)).one()
    update = told[0].updates[0]
    assert update["type"] == "activity" and update["data"]["message"] == line.message
    assert line.message == "'sales.csv' was uploaded: 12 rows." and line.ref_id == "d1"


class SilentBus(MemoryBus):
    """A broker that looks connected but never confirms (a silent network partition)."""

    async def publish(self, event: Any) -> None:
        await asyncio.sleep(3600)


@pytest.mark.parametrize("silent", [False, True], ids=["away", "silent"])
async def test_with_the_broker_away_the_request_goes_on_and_this_replica_is_told(
    db: Database, silent: bool
) -> None:
    bus = SilentBus() if silent else MemoryBus()  # a MemoryBus not started is not connected
    if silent:
        await bus.start()
    hub = LiveHub()
    seen = Seen(hub)
    news = LiveNews(bus, hub, publish_timeout_s=0.2)
    await news.start()
    try:
        async with asyncio.timeout(2):  # telling never waits for the broker
            await Announcer(db, news).tell([DatasetUploaded("d1", "sales.csv", 12)])
        lines = await eventually(lambda: seen.of("activity"), within=5)
    finally:
        await news.stop()
        await bus.close()
    assert [line["message"] for line in lines] == ["'sales.csv' was uploaded: 12 rows."]
