"""The trainer's handlers: turn a `training.requested` event into a model, exactly once.

A job's message is acked only after its outcome is published. If the trainer dies mid-way the
broker redelivers the job; the model id was fixed by the gateway, and a finished model leaves a
record beside its file, so a redelivery either re-announces that model or trains it again under
the same id: one model per job, never two."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from prometheus_client import Counter, Histogram

from services.common.bus import Bus
from services.common.events import (
    TrainingCancelled,
    TrainingCancelRequested,
    TrainingFailed,
    TrainingProgressed,
    TrainingRequested,
    TrainingStarted,
    TrainingSucceeded,
)
from services.common.storage import FileStore, model_path, model_record_path
from services.trainer.runner import Outcome, TrainingRun, TrainingSpec

log = logging.getLogger(__name__)
JOBS = Counter("mlops_training_jobs_total", "Training jobs finished", ["outcome"])
SECONDS = Histogram(
    "mlops_training_seconds",
    "Wall time of a training job",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900),
)


class Trainer:
    def __init__(
        self,
        bus: Bus,
        store: FileStore,
        secret: bytes,
        worker_name: str,
        progress_every_s: float = 0.5,
        memory_mb: int = 0,
    ):
        self._memory_mb = memory_mb
        self._bus, self._store, self._secret = bus, store, secret
        self._worker = worker_name
        self._progress_every = progress_every_s
        self._cancelled: deque[str] = deque(maxlen=10_000)
        self._running: dict[str, TrainingRun] = {}
        self._finished: dict[str, asyncio.Event] = {}

    @property
    def busy(self) -> bool:
        return bool(self._running)

    @property
    def jobs(self) -> list[str]:
        """The jobs training here now (told in heartbeats, so the gateway can spot orphans)."""
        return list(self._running)

    async def on_cancel(self, event: TrainingCancelRequested) -> None:
        self._cancelled.append(event.job_id)
        run = self._running.get(event.job_id)
        if run is not None:
            log.info("cancelling training", extra={"job_id": event.job_id})
            run.cancel()

    async def on_requested(self, event: TrainingRequested) -> None:
        job = event.job_id
        if job in self._finished:
            # Redelivered to us while we still train it (our channel dropped and came back):
            # wait for that run instead of training the same job twice.
            await self._finished[job].wait()
        if job in self._cancelled:
            await self._bus.publish(TrainingCancelled(correlation_id=job, job_id=job))
            return
        record = model_record_path(event.model_id)
        if self._store.exists(record) and self._store.exists(model_path(event.model_id)):
            log.info(
                "job redelivered after it finished: announcing its model again",
                extra={"job_id": job},
            )
            await self._bus.publish(TrainingSucceeded.model_validate(self._store.read_json(record)))
            return
        done = self._finished[job] = asyncio.Event()
        try:
            await self._bus.publish(
                TrainingStarted(correlation_id=job, job_id=job, worker=self._worker)
            )
            started = time.monotonic()
            outcome = await self._train(event)
            SECONDS.observe(time.monotonic() - started)
            JOBS.labels(outcome.status).inc()
            await self._announce(event, outcome)
        finally:
            del self._finished[job]
            done.set()

    async def _train(self, event: TrainingRequested) -> Outcome:
        spec = TrainingSpec(
            data_dir=str(self._store.root),
            secret=self._secret,
            dataset_path=event.dataset_path,
            model_path=model_path(event.model_id),
            target=event.target,
            time_budget_s=float(event.time_budget_s),
            algorithm=event.algorithm,
            memory_mb=self._memory_mb,
        )
        run = TrainingRun(spec)
        self._running[event.job_id] = run
        started, last_sent = time.monotonic(), 0.0

        async def progress(fraction: float, stage: str) -> None:
            nonlocal last_sent
            now = time.monotonic()
            if now - last_sent < self._progress_every and fraction < 1.0:
                return
            last_sent = now
            elapsed = now - started
            eta = (
                max(0.0, min(elapsed / fraction - elapsed, spec.time_budget_s * 1.1 - elapsed))
                if fraction > 0.02
                else None
            )
            await self._bus.publish(
                TrainingProgressed(
                    correlation_id=event.job_id,
                    job_id=event.job_id,
                    progress=round(min(max(fraction, 0.0), 1.0), 4),
                    stage=stage,
                    eta_s=eta,
                )
            )

        try:
            return await run.run(progress)
        finally:
            self._running.pop(event.job_id, None)

    async def _announce(self, event: TrainingRequested, outcome: Outcome) -> None:
        job = event.job_id
        if outcome.status == "cancelled":
            self._store.delete(model_path(event.model_id))
            await self._bus.publish(TrainingCancelled(correlation_id=job, job_id=job))
        elif outcome.status == "failed":
            log.info("training failed", extra={"job_id": job, "code": outcome.code})
            await self._bus.publish(
                TrainingFailed(
                    correlation_id=job, job_id=job, error=outcome.error, code=outcome.code
                )
            )
        else:  # also after a cancel: the best model found until then
            assert outcome.report is not None, "a succeeded outcome carries its report"
            succeeded = TrainingSucceeded(
                correlation_id=job,
                job_id=job,
                model_id=event.model_id,
                model_path=model_path(event.model_id),
                dataset_id=event.dataset_id,
                **outcome.report.model_dump(),
            )
            # The record makes a redelivered job re-announce this model instead of training again.
            record = succeeded.model_dump(mode="json")
            # fsync'd file write: off the event loop, which keeps the broker's heartbeats.
            await asyncio.to_thread(
                self._store.write_json, model_record_path(event.model_id), record
            )
            await self._bus.publish(succeeded)
            log.info(
                "model trained",
                extra={"job_id": job, "model_id": event.model_id, "score": succeeded.score},
            )
