"""The trainer's handlers: turn a `training.requested` event into a model, exactly once.

A job's message is acked once `training.started` is published: from then on the job's state
is owned by the gateway's database, whose watchdog publishes the request again if this trainer
dies (its heartbeats stop claiming the job). Acking early keeps a job longer than the broker's
ack timeout from being handed to a second trainer. The model id was fixed by the gateway, and a
finished model leaves a record beside its file, so a job requested again either re-announces
that model or trains it again under the same id: one model per job, never two."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Histogram

from services.common.bus import Bus, is_transient
from services.common.events import (
    Event,
    TrainingCancelled,
    TrainingCancelRequested,
    TrainingFailed,
    TrainingProgressed,
    TrainingRequested,
    TrainingStarted,
    TrainingSucceeded,
)
from services.common.retrying import patiently
from services.common.storage import FileStore, model_path, model_record_path
from services.trainer.runner import Outcome, TrainingRun, TrainingSpec

log = logging.getLogger(__name__)
JOBS = Counter("mlops_training_jobs_total", "Training jobs finished", ["outcome"])
SECONDS = Histogram(
    "mlops_training_seconds",
    "Wall time of a training job",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900),
)
LAST_UPDATE_S = 1.0  # how long the last progress update may hold up the outcome
PROGRESS_DROPPED = Counter(
    "mlops_training_progress_dropped_total", "Progress updates dropped (broker slow or away)"
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
        *,
        progress_timeout_s: float = 2.0,
        outcome_window_s: float = 3600.0,
    ):
        self._memory_mb = memory_mb
        self._progress_timeout_s, self._outcome_window_s = progress_timeout_s, outcome_window_s
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
        """The jobs here now, training or announcing their outcome (told in heartbeats, so the
        gateway can spot orphans: a job whose outcome waits for the broker is not one)."""
        return list(self._finished)

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
            await self._publish_outcome(TrainingCancelled(correlation_id=job, job_id=job))
            return
        record = model_record_path(event.model_id)
        if self._store.exists(record) and self._store.exists(model_path(event.model_id)):
            log.info(
                "job redelivered after it finished: announcing its model again",
                extra={"job_id": job},
            )
            announced = TrainingSucceeded.model_validate(self._store.read_json(record))
            await self._publish_outcome(announced)
            return
        done = self._finished[job] = asyncio.Event()
        try:
            await self._bus.publish(
                TrainingStarted(correlation_id=job, job_id=job, worker=self._worker)
            )
            # The gateway's database owns the job from here (its watchdog asks for it again if
            # this trainer dies), so the message is acked now: a job may train longer than
            # RabbitMQ lets a message stay unacked (30 minutes by default).
            await self._bus.ack_early()
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
        sender = _BestEffort(self._progress_timeout_s)

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
            progressed = TrainingProgressed(
                correlation_id=event.job_id,
                job_id=event.job_id,
                progress=round(min(max(fraction, 0.0), 1.0), 4),
                stage=stage,
                eta_s=eta,
            )
            # Best effort: the training never waits for the broker, nor stops for it.
            sender.send(lambda: self._bus.publish(progressed))

        try:
            return await run.run(progress)
        finally:
            self._running.pop(event.job_id, None)
            await sender.close()

    async def _announce(self, event: TrainingRequested, outcome: Outcome) -> None:
        job = event.job_id
        if outcome.status == "cancelled":
            self._store.delete(model_path(event.model_id))
            self._store.delete(model_path(event.model_id) + ".sig")
            await self._publish_outcome(TrainingCancelled(correlation_id=job, job_id=job))
        elif outcome.status == "failed":
            log.info("training failed", extra={"job_id": job, "code": outcome.code})
            await self._publish_outcome(
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
            # The record makes a redelivered job re-announce this model instead of training
            # again, and lets the gateway find the model should the broker never take the event.
            record = succeeded.model_dump(mode="json")
            # fsync'd file write: off the event loop, which keeps the broker's heartbeats.
            await asyncio.to_thread(
                self._store.write_json, model_record_path(event.model_id), record
            )
            await self._publish_outcome(succeeded)
            log.info(
                "model trained",
                extra={"job_id": job, "model_id": event.model_id, "score": succeeded.score},
            )

    async def _publish_outcome(self, event: Event) -> None:
        """An outcome is never dropped: while the broker is away, retry with backoff for the
        outcome window (an hour by default), then give up loudly (the handler fails)."""

        what = f"publishing {event.type} for job {event.correlation_id}"
        retrying = patiently(self._outcome_window_s, is_transient, what, max_wait_s=30.0)
        async for attempt in retrying:
            with attempt:
                await self._bus.publish(event)


class _BestEffort:
    """Publishes progress in the background, one update at a time, each within `timeout_s`:
    an update that fails or times out is dropped, and one that comes while another is in flight
    waits in a single slot where a newer one replaces it. The training never waits."""

    def __init__(self, timeout_s: float):
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None
        self._next: Callable[[], Awaitable[None]] | None = None

    def send(self, publish: Callable[[], Awaitable[None]]) -> None:
        if self._next is not None:
            PROGRESS_DROPPED.inc()  # replaced by this newer update
        self._next = publish
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._publish_all())

    async def _publish_all(self) -> None:
        while self._next is not None:
            publish, self._next = self._next, None
            try:
                async with asyncio.timeout(self._timeout_s):
                    await publish()
            except Exception as exc:  # whatever went wrong, the training goes on
                PROGRESS_DROPPED.inc()
                log.info("progress update dropped: %r", exc)

    async def close(self) -> None:
        """Let the last update go out before the outcome follows it, for a second at most:
        past that, an update still waiting for the broker is dropped."""
        if self._task is None or self._task.done():
            return
        _, late = await asyncio.wait([self._task], timeout=min(self._timeout_s, LAST_UPDATE_S))
        for task in late:
            task.cancel()
            await asyncio.wait([task])
