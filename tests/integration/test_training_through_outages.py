"""A real training (a child process) while the broker is away: every progress update is refused
yet the training goes on, and its outcome goes out once the broker is back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.events import RECORDS_QUEUE, Event, TrainingProgressed, TrainingSucceeded
from services.common.storage import FileStore, dataset_path, model_path, model_record_path
from services.trainer.worker import Trainer
from tests.support import churn_csv, eventually, training_requested
from tests.unit.test_trainer_outages import FlakyBus, Update, succeeded

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SECRET = b"k" * 32


@pytest.fixture
async def bus() -> AsyncIterator[FlakyBus]:
    bus = FlakyBus()
    await bus.start()
    yield bus
    await bus.close()


async def test_training_survives_a_broker_away_until_its_outcome(
    bus: FlakyBus, tmp_path: Path
) -> None:
    store = FileStore(tmp_path, SECRET)
    store.write_bytes(dataset_path("churn"), churn_csv(rows=600))
    updates: list[Update] = []

    async def record(event: Update) -> None:
        updates.append(event)

    await bus.consume_work(RECORDS_QUEUE, record)
    attempts: list[bool] = []

    def watch(event: Event) -> None:
        if isinstance(event, TrainingSucceeded):
            attempts.append(store.exists(model_record_path("model-1")))
            if len(attempts) == 3:
                bus.away.clear()  # the broker is back

    bus.before_publish = watch
    bus.away |= {TrainingProgressed.type, TrainingSucceeded.type}
    trainer = Trainer(bus, store, SECRET, "trainer-1", progress_every_s=0.0)
    job = training_requested(1, dataset_path=dataset_path("churn"), target="churn", time_budget_s=5)
    await trainer.on_requested(job)

    assert bus.refused[TrainingProgressed.type] > 0  # refused all along, and training went on
    assert attempts == [True] * 3  # the record is written before the first try
    [done] = await eventually(lambda: succeeded(updates))
    assert done.model_id == "model-1" and done.score > 0.5
    assert store.load_model(model_path("model-1")) is not None
    assert not any(isinstance(u, TrainingProgressed) for u in updates)
