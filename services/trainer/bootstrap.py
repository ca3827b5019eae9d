"""Wires the trainer: consumes jobs from the shared work queue, one at a time per replica."""

from __future__ import annotations

from services.common.bus import Bus
from services.common.events import TRAINING_QUEUE
from services.common.heartbeat import Heartbeat
from services.common.lifecycle import Lifecycle, Step
from services.common.storage import FileStore
from services.common.web import connection_health, service_app
from services.trainer.settings import TrainerSettings
from services.trainer.worker import Trainer


class TrainerService(Lifecycle):
    def __init__(self, settings: TrainerSettings, bus: Bus, store: FileStore, secret: bytes):
        heartbeat = Heartbeat(bus, "trainer", settings.heartbeat_interval_s, self.details)
        self.trainer = Trainer(
            bus,
            store,
            secret,
            heartbeat.instance,
            memory_mb=settings.training_memory_mb,
            progress_timeout_s=settings.progress_publish_timeout_s,
            outcome_window_s=settings.outcome_publish_window_s,
        )
        self.app = service_app("trainer", connection_health(bus, self.details))
        super().__init__(
            "trainer",
            # Cancels first: a job taken from the queue can be cancelled at once.
            Step("cancels", lambda: bus.consume_broadcast(self.trainer.on_cancel)),
            # prefetch=1: one CPU-heavy job per replica; the others wait for a free trainer.
            Step(
                "jobs",
                lambda: bus.consume_work(TRAINING_QUEUE, self.trainer.on_requested, prefetch=1),
            ),
            heartbeat,
        )

    def details(self) -> dict[str, object]:
        """Told in heartbeats (the gateway spots orphaned jobs from `jobs`) and on /health."""
        return {"busy": self.trainer.busy, "jobs": self.trainer.jobs}


def bootstrap(
    settings: TrainerSettings, bus: Bus, store: FileStore, secret: bytes
) -> TrainerService:
    return TrainerService(settings, bus, store, secret)
