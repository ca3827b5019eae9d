"""The trainer while the broker is away or silent: progress is best effort and never stops the
training; the outcome is retried until the broker takes it, after the model's record is written.

The training run itself is played by a fake (tests/integration/test_trainer_outages.py runs a
real one); the bus is the in-memory one, made to fail or hang its publishes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from services.common.bus import BusUnavailable
from services.common.bus.memory import MemoryBus
from services.common.events import (
    RECORDS_QUEUE,
    Event,
    TrainingCancelled,
    TrainingFailed,
    TrainingProgressed,
    TrainingStarted,
    TrainingSucceeded,
)
from services.common.storage import FileStore, model_record_path
from services.trainer import worker
from services.trainer.runner import Outcome, ProgressCallback, TrainingSpec
from services.trainer.worker import Trainer
from tests.support import eventually, model_report, training_requested

REPORT = model_report(algorithm="Extra trees", score=0.8, summary="Typically off by about 10.")
Update = (
    TrainingStarted | TrainingProgressed | TrainingSucceeded | TrainingFailed | TrainingCancelled
)


class FlakyBus(MemoryBus):
    """The in-memory bus, with a broker that refuses (`away`) or never answers (`silent`)
    publishes of some event types; `before_publish` sees every attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.away: set[str] = set()
        self.silent: set[str] = set()
        self.refused: Counter[str] = Counter()
        self.before_publish: Callable[[Event], None] = lambda event: None

    async def _publish(self, event: Event, body: bytes) -> None:
        self.before_publish(event)
        if event.type in self.silent:
            await asyncio.Event().wait()  # until the caller gives up
        if event.type in self.away:
            self.refused[event.type] += 1
            raise BusUnavailable("the broker is away")
        await super()._publish(event, body)


class FakeRun:
    """A training that reports progress 50 times, then succeeds."""

    progressed = 0

    def __init__(self, spec: TrainingSpec) -> None:
        self.spec = spec

    def cancel(self) -> None:
        pass

    async def run(self, on_progress: ProgressCallback) -> Outcome:
        for step in range(50):
            await on_progress(step / 50, "Trying different kinds of model")
            FakeRun.progressed += 1
            await asyncio.sleep(0.005)
        return Outcome("succeeded", report=REPORT)


@pytest.fixture
async def bus(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlakyBus]:
    monkeypatch.setattr(worker, "TrainingRun", FakeRun)
    FakeRun.progressed = 0
    bus = FlakyBus()
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def updates(bus: FlakyBus) -> list[Update]:
    """What the gateway would record, in order."""
    seen: list[Update] = []

    async def record(event: Update) -> None:
        seen.append(event)

    await bus.consume_work(RECORDS_QUEUE, record)
    return seen


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path, b"k" * 32)


def trainer_on(bus: FlakyBus, store: FileStore, **options: float) -> Trainer:
    return Trainer(bus, store, b"k" * 32, "trainer-1", progress_every_s=0.0, **options)


def succeeded(updates: list[Update]) -> list[TrainingSucceeded]:
    return [u for u in updates if isinstance(u, TrainingSucceeded)]


async def test_progress_the_broker_refuses_or_never_answers_does_not_stop_training(
    bus: FlakyBus, updates: list[Update], store: FileStore
) -> None:
    bus.away.add(TrainingProgressed.type)
    trainer = trainer_on(bus, store, progress_timeout_s=3600.0)
    await trainer.on_requested(training_requested(1))
    assert FakeRun.progressed == 50 and bus.refused[TrainingProgressed.type] > 0
    assert [u.job_id for u in await eventually(lambda: succeeded(updates))] == ["job-1"]

    bus.away.clear()
    bus.silent.add(TrainingProgressed.type)  # a publish that would wait an hour
    await trainer.on_requested(training_requested(2))
    assert FakeRun.progressed == 100
    await eventually(lambda: len(succeeded(updates)) == 2)


async def test_the_outcome_waits_for_the_broker_to_come_back(
    bus: FlakyBus, updates: list[Update], store: FileStore
) -> None:
    trainer = trainer_on(bus, store, outcome_window_s=60.0)
    record = store.path(model_record_path("model-1"))
    attempts: list[tuple[bool, list[str]]] = []

    def watch(event: Event) -> None:
        if isinstance(event, TrainingSucceeded):
            # The record is written first, and the job stays claimed in heartbeats meanwhile.
            attempts.append((record.exists(), trainer.jobs))
            if len(attempts) == 4:
                bus.away.clear()  # the broker is back

    bus.before_publish = watch
    bus.away.add(TrainingSucceeded.type)
    await trainer.on_requested(training_requested(1))
    assert bus.refused[TrainingSucceeded.type] == 3
    assert attempts == [(True, ["job-1"])] * 4
    assert [u.model_id for u in await eventually(lambda: succeeded(updates))] == ["model-1"]
    assert trainer.jobs == []


async def test_an_outcome_the_broker_never_takes_fails_the_handler_loudly(
    bus: FlakyBus, updates: list[Update], store: FileStore
) -> None:
    bus.away.add(TrainingSucceeded.type)
    trainer = trainer_on(bus, store, outcome_window_s=0.5)
    with pytest.raises(BusUnavailable):
        await trainer.on_requested(training_requested(1))
    assert bus.refused[TrainingSucceeded.type] >= 2  # retried, not given up at once
    assert succeeded(updates) == []
    # The model's record stays, for a job requested again or the gateway's reconciler.
    assert store.exists(model_record_path("model-1"))
