"""Nothing lost while a dependency is away: outcomes are retried, kept as dead letters and
repaired; a model the predictor cannot load is refused; predictions go on without the
database. The gateway alone on the in-process bus, with the test playing trainer and predictor."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.common.admission import Admission
from services.common.bus import MemoryBus
from services.common.events import (
    RECORDS_QUEUE,
    TRAINING_QUEUE,
    TrainingRequested,
    TrainingStarted,
)
from services.common.storage import model_path, model_record_path
from services.gateway.adapters.orm import JobRow
from services.gateway.entrypoints.service import GatewayService
from tests.support import churn_csv, eventually, gateway_alone, training_succeeded


class FakePredictor:
    """Answers as the predictor does: loads models it is told are good, refuses the rest."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.asked: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/models/"):
            model_id = request.url.path.rsplit("/", 1)[-1]
            if model_id in self.broken:
                detail = "This model file has been changed since it was trained."
                return httpx.Response(409, json={"detail": detail, "code": "model_untrusted"})
            signature = {"task": "classification", "target": "churn"}
            return httpx.Response(
                200, json={"model_id": model_id, "ready": True, "signature": signature}
            )
        body = json.loads(request.content)
        self.asked.append(body)
        return httpx.Response(
            200,
            json={
                "model_id": body.get("model_id") or "the-default",
                "predictions": ["yes"] * len(body["rows"]),
            },
        )


@pytest.fixture
def predictor() -> FakePredictor:
    return FakePredictor()


@contextlib.asynccontextmanager
async def gateway(
    tmp_path: Path, predictor: FakePredictor
) -> AsyncIterator[tuple[httpx.AsyncClient, GatewayService]]:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(predictor.handle), base_url="http://predictor"
    )
    async with gateway_alone(tmp_path, http, reconcile_interval_s=3600) as (api, service):
        yield api, service


async def a_trained_model(api: httpx.AsyncClient, service: GatewayService) -> dict[str, Any]:
    """A job and its model, recorded as if a trainer had finished it."""
    job = await a_job(api, service)
    store = service.gateway.store
    event = training_succeeded(
        job_id=job["id"], model_id=job["model_id"], model_path=model_path(job["model_id"])
    )
    store.save_model(event.model_path, {"a": "model"})
    await service.recorder.record(event)
    return job


async def a_job(api: httpx.AsyncClient, service: GatewayService) -> dict[str, Any]:
    """A new job, with the model id reserved for it (the API names it only once it exists)."""
    files = {"file": ("churn.csv", churn_csv(), "text/csv")}
    dataset = (await api.post("/api/datasets", files=files)).json()
    job = (await api.post("/api/jobs", json={"dataset_id": dataset["id"]})).json()
    with service.gateway.db.unit_of_work() as session:
        reserved = session.get(JobRow, job["id"])
        assert reserved is not None
        return {**job, "model_id": reserved.model_id}


@contextlib.contextmanager
def database_away(service: GatewayService) -> Iterator[None]:
    """Every new transaction fails as if PostgreSQL had gone away."""
    db = service.gateway.db

    def away() -> Any:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    original = db.unit_of_work
    db.unit_of_work = away  # type: ignore[method-assign]
    try:
        yield
    finally:
        db.unit_of_work = original  # type: ignore[method-assign]


async def test_a_model_whose_outcome_never_arrived_is_recorded_by_the_reconciler(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        job = await a_job(api, service)
        # The trainer finished (model file and record on the shared folder), but its
        # "training succeeded" never reached the gateway, and the job was given up on.
        store = service.gateway.store
        event = training_succeeded(
            job_id=job["id"], model_id=job["model_id"], model_path=model_path(job["model_id"])
        )
        store.save_model(event.model_path, {"a": "model"})
        store.write_json(model_record_path(event.model_id), event.model_dump(mode="json"))

        assert await service.reconciler.run() == [job["id"]]
        repaired = (await api.get(f"/api/jobs/{job['id']}")).json()
        assert repaired["status"] == "succeeded" and repaired["model_id"] == job["model_id"]
        assert (await api.get(f"/api/models/{job['model_id']}")).status_code == 200
        assert await service.reconciler.run() == []  # once only


async def test_an_update_the_database_missed_is_kept_then_replayed(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        job = await a_job(api, service)
        bus = service.gateway.bus
        assert isinstance(bus, MemoryBus)
        bus.retry_window_s = 0.5
        with database_away(service):
            await bus.publish(TrainingStarted(job_id=job["id"], worker="w"))
            kept = await eventually(lambda: bus.all_dead_letters, within=10)
            listed = (await api.get("/api/dead-letters")).json()
        assert kept[0].reason == "gave_up" and kept[0].correlation_id is None
        [records] = [q for q in listed["queues"] if q["queue"] == RECORDS_QUEUE]
        assert records["count"] == 1 and records["items"][0]["type"] == "training.started"
        assert "retry window" in records["items"][0]["explanation"]

        await service.reconciler.run()  # the database answers again: replay what it missed
        await eventually(
            lambda: _job_if(api, job["id"], lambda j: j["status"] == "running"), within=10
        )
        assert await bus.dead_letter_count(RECORDS_QUEUE) == 0


async def test_dead_letters_can_be_discarded_and_unknown_queues_are_explained(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        bus = service.gateway.bus
        assert isinstance(bus, MemoryBus)
        bus.broker.route(TrainingStarted.type, b"{not json")  # a broken producer
        await eventually(lambda: bus.all_dead_letters, within=10)
        listed = (await api.get("/api/dead-letters")).json()
        [records] = [q for q in listed["queues"] if q["queue"] == RECORDS_QUEUE]
        assert records["items"][0]["reason"] == "malformed"

        settled = await api.post(f"/api/dead-letters/{RECORDS_QUEUE}/discard", json={})
        assert settled.json() == {"queue": RECORDS_QUEUE, "action": "discarded", "count": 1}
        assert not bus.all_dead_letters
        unknown = await api.post("/api/dead-letters/nope/replay")
        assert unknown.status_code == 404 and unknown.json()["code"] == "queue_not_found"


async def test_a_model_the_predictor_cannot_load_is_refused_and_stays_off(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        good, bad = await a_trained_model(api, service), await a_trained_model(api, service)
        assert (await api.post(f"/api/models/{good['model_id']}/deploy")).status_code == 200
        predictor.broken.add(bad["model_id"])

        refused = await api.post(f"/api/models/{bad['model_id']}/deploy")
        assert refused.status_code == 409 and refused.json()["code"] == "model_not_loadable"
        assert "keeps answering" in refused.json()["detail"]
        assert (await api.get(f"/api/models/{bad['model_id']}")).json()["deployed"] is False
        answer = await api.post("/api/predict", json={"rows": [{"plan": "basic"}]})
        assert answer.status_code == 200 and predictor.asked[-1]["model_id"] == good["model_id"]


async def test_predictions_go_on_while_the_database_is_away(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        job = await a_trained_model(api, service)
        assert (await api.post(f"/api/models/{job['model_id']}/deploy")).status_code == 200
        row = {"rows": [{"plan": "basic"}]}
        with database_away(service):
            by_default = await api.post("/api/predict", json=row)
            assert by_default.status_code == 200, by_default.text
            assert predictor.asked[-1]["model_id"] is None  # the predictor's own default
            named = await api.post("/api/predict", json={**row, "model_id": job["model_id"]})
            assert named.status_code == 200
            unknown = await api.post("/api/predict", json={**row, "model_id": "never-seen"})
            assert unknown.status_code == 503
            assert unknown.json()["code"] == "database_unavailable"
            listing = await api.get("/api/models")
            assert listing.status_code == 503 and "database" in listing.json()["detail"]
        assert (await api.get("/api/models")).status_code == 200


async def _job_if(api: httpx.AsyncClient, job_id: str, test: Any) -> dict[str, Any] | None:
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    return dict(job) if test(job) else None


async def test_a_job_published_while_its_queue_is_missing_waits_and_is_not_dropped(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        bus = service.gateway.bus
        assert isinstance(bus, MemoryBus)
        del bus.broker.queues[TRAINING_QUEUE]  # deleted by hand, or lost by the broker
        job = await a_job(api, service)
        # The broker would have dropped it; the outbox keeps it, declares the queue again and
        # sends it on its next round.
        await service.gateway.relay.flush()
        await service.gateway.relay.flush()
        waiting = await eventually(lambda: bus.queue_depth(TRAINING_QUEUE), within=10)
        assert waiting == 1
        [item] = [bus.broker.queues[TRAINING_QUEUE].items.get_nowait()]
        assert job["id"] in item.body.decode()


async def test_a_job_whose_request_was_given_up_on_fails_with_a_reason_instead_of_waiting(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        bus = service.gateway.bus

        async def broken_trainer(event: TrainingRequested) -> None:
            raise ValueError("a bug in the trainer")

        await bus.consume_work(TRAINING_QUEUE, broken_trainer)
        job = await a_job(api, service)
        await service.gateway.relay.flush()
        await eventually(lambda: bus.dead_letter_count(TRAINING_QUEUE), within=10)

        await service.reconciler.run()
        failed = (await api.get(f"/api/jobs/{job['id']}")).json()
        assert failed["status"] == "failed" and "could not be started" in failed["error"]
        assert await bus.dead_letter_count(TRAINING_QUEUE) == 1  # kept for whoever looks


async def test_the_gateway_refuses_predictions_at_its_door_when_too_many_wait(
    tmp_path: Path, predictor: FakePredictor
) -> None:
    async with gateway(tmp_path, predictor) as (api, service):
        job = await a_trained_model(api, service)
        assert (await api.post(f"/api/models/{job['model_id']}/deploy")).status_code == 200
        service.gateway.admission = Admission(running=1, waiting=0)
        release, taken = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with service.gateway.admission.turn():
                taken.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await taken.wait()
        refused = await api.post("/api/predict", json={"rows": [{"plan": "basic"}]})
        assert refused.status_code == 503 and refused.json()["code"] == "busy"
        assert refused.headers["retry-after"] == "1"
        assert predictor.asked == []  # refused before any work
        release.set()
        await holder
        answered = await api.post("/api/predict", json={"rows": [{"plan": "basic"}]})
        assert answered.status_code == 200
