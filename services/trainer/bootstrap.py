"""Wires the trainer: consumes jobs from the shared work queue, one at a time per replica."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.bus import Bus
from services.common.events import TRAINING_QUEUE, TRAINING_QUEUE_PATTERNS, TrainingCancelRequested
from services.common.heartbeat import Heartbeat
from services.common.storage import FileStore
from services.common.web import install_common
from services.trainer.settings import TrainerSettings
from services.trainer.worker import Trainer


class TrainerService:
    def __init__(self, settings: TrainerSettings, bus: Bus, store: FileStore, secret: bytes):
        self.bus = bus
        self.heartbeat = Heartbeat(bus, "trainer", settings.heartbeat_interval_s, self._details)
        self.trainer = Trainer(
            bus, store, secret, self.heartbeat.instance, memory_mb=settings.training_memory_mb
        )
        self.app = _app(self)

    def _details(self) -> dict[str, object]:
        return {"busy": self.trainer.busy, "jobs": self.trainer.jobs}

    async def start(self) -> None:
        await self.bus.consume_broadcast([TrainingCancelRequested.type], self.trainer.on_cancel)  # type: ignore[arg-type]
        await self.bus.consume_work(
            TRAINING_QUEUE, TRAINING_QUEUE_PATTERNS, self.trainer.on_requested, prefetch=1
        )  # type: ignore[arg-type]
        await self.heartbeat.start()

    async def stop(self) -> None:
        await self.heartbeat.stop()


def _app(service: TrainerService) -> FastAPI:
    app = FastAPI(title="trainer", docs_url=None, redoc_url=None)
    install_common(app, "trainer")

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {
            "status": "ok" if service.bus.connected else "degraded",
            "busy": service.trainer.busy,
        }

    return app


def bootstrap(
    settings: TrainerSettings, bus: Bus, store: FileStore, secret: bytes
) -> TrainerService:
    return TrainerService(settings, bus, store, secret)
