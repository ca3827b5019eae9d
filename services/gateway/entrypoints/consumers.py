"""What the gateway does with events: record training updates (once, on a shared queue) and
push every update to the pages connected to THIS replica (each replica gets its own copy)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from services.common.events import (
    Event,
    MetricsSampled,
    ModelDeployed,
    ServiceHeartbeat,
    TrainingCancelled,
    TrainingFailed,
    TrainingProgressed,
    TrainingRequested,
    TrainingStarted,
    TrainingSucceeded,
)
from services.gateway.adapters.orm import JobRow, ModelRow
from services.gateway.handlers import jobs
from services.gateway.handlers.activity import describe
from services.gateway.notify import Notice
from services.gateway.schemas import Job, Model

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway

RECORDS_QUEUE = "gateway.records"
RECORDED = [
    "training.started",
    "training.progress",
    "training.succeeded",
    "training.failed",
    "training.cancelled",
]
LIVE = ["training.#", "model.deployed", "metrics.sampled", "service.heartbeat"]
FINAL = (TrainingSucceeded, TrainingFailed, TrainingCancelled)
JOB_EVENTS = (TrainingRequested, TrainingStarted, TrainingProgressed, *FINAL)
JobEvent = (
    TrainingRequested
    | TrainingStarted
    | TrainingProgressed
    | TrainingSucceeded
    | TrainingFailed
    | TrainingCancelled
)


class Consumers:
    def __init__(self, gateway: Gateway):
        self.gw = gateway
        self.latest_metrics: dict[str, Any] | None = None
        self.metrics_history: deque[dict[str, Any]] = deque(maxlen=720)
        self._health: dict[str, str] = {}

    async def start(self) -> None:
        await self.gw.bus.consume_work(RECORDS_QUEUE, RECORDED, self.record, prefetch=10)
        await self.gw.bus.consume_broadcast(LIVE, self.push)

    async def record(self, event: Event) -> None:
        notice = await asyncio.to_thread(self._record_blocking, event)
        self.gw.relay.wake()
        if notice is not None:  # committed: tell the person, without holding up this queue
            self.gw.notifier.submit(notice)

    def _record_blocking(self, event: Event) -> Notice | None:
        """Record one update; the email to send once it is committed, if this update is the
        one that finished the job (a redelivered event finds it finished and asks for none)."""
        notifier = self.gw.notifier
        with self.gw.db.unit_of_work() as session:
            match event:
                case TrainingStarted():
                    jobs.record_started(session, event)
                case TrainingProgressed():
                    jobs.record_progress(session, event)
                case TrainingSucceeded():
                    if jobs.record_succeeded(session, self.gw.store, event):
                        return notifier.for_success(session, event.model_id)
                case TrainingFailed():
                    if jobs.record_failed(session, event):
                        return notifier.for_failure(session, event.job_id)
                case TrainingCancelled():
                    jobs.record_cancelled(session, event)
        return None

    async def push(self, event: Event) -> None:
        hub = self.gw.hub
        match event:
            case MetricsSampled():
                sample = event.model_dump(mode="json", exclude={"id", "version", "correlation_id"})
                self.latest_metrics = sample
                self.metrics_history.append(sample)
                hub.broadcast("metrics", sample)
            case ServiceHeartbeat():
                self.gw.board.saw(event)
                await self._push_health_if_changed()
            case ModelDeployed():
                model = await asyncio.to_thread(self._model, event.model_id)
                if model is not None:
                    hub.broadcast("model", model)
            case (
                TrainingRequested()
                | TrainingStarted()
                | TrainingProgressed()
                | TrainingSucceeded()
                | TrainingFailed()
                | TrainingCancelled()
            ):
                job = await self._job_view(event)
                if job is not None:
                    hub.broadcast("job", job)
        told = describe(event)
        if told is not None:
            hub.broadcast(
                "activity", {"kind": told[0], "message": told[1], "ref_id": event.correlation_id}
            )

    async def _job_view(self, event: JobEvent) -> Job | None:
        """The job as stored. A final event may reach us before the replica that records it has
        committed, so wait briefly for the stored status rather than show a stale one."""
        deadline = time.monotonic() + 3.0
        while True:
            job = await asyncio.to_thread(self._job, event.job_id)
            if (
                job is None
                or not isinstance(event, FINAL)
                or job.status not in jobs.ACTIVE
                or time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.1)
        if job is not None and isinstance(event, TrainingProgressed) and job.status in jobs.ACTIVE:
            fresher = event.progress >= job.progress
            if fresher:
                job = job.model_copy(
                    update={
                        "status": "running",
                        "progress": event.progress,
                        "stage": event.stage,
                        "eta_s": event.eta_s,
                    }
                )
        return job

    def _job(self, job_id: str) -> Job | None:
        with self.gw.db.unit_of_work() as session:
            row = session.get(JobRow, job_id)
            return Job.of(row) if row is not None else None

    def _model(self, model_id: str) -> Model | None:
        with self.gw.db.unit_of_work() as session:
            row = session.get(ModelRow, model_id)
            return Model.of(row) if row is not None else None

    async def _push_health_if_changed(self) -> None:
        health = await self.gw.health()
        if health.components != self._health:
            self._health = dict(health.components)
            self.gw.hub.broadcast("health", health)
