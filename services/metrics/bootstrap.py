"""Wires the metrics service: a sample of the machine on the bus every few seconds."""

from __future__ import annotations

import asyncio
import logging

import psutil
from fastapi import FastAPI
from prometheus_client import Gauge

from services.common.background import Repeating
from services.common.bus import Bus, BusUnavailable
from services.common.events import TRAINING_QUEUE, MetricsSampled
from services.common.heartbeat import Heartbeat
from services.common.web import install_common
from services.metrics.sampler import sample
from services.metrics.settings import MetricsSettings

log = logging.getLogger(__name__)
CPU = Gauge("mlops_machine_cpu_percent", "CPU use of the machine")
MEMORY = Gauge("mlops_machine_memory_percent", "Memory use of the machine")
DISK = Gauge("mlops_machine_disk_percent", "Disk use of the data folder's disk")
QUEUE = Gauge("mlops_queue_depth", "Messages waiting in a work queue", ["queue"])


class MetricsService:
    def __init__(self, settings: MetricsSettings, bus: Bus):
        self.settings, self.bus = settings, bus
        self.heartbeat = Heartbeat(bus, "metrics", settings.heartbeat_interval_s)
        self.latest: MetricsSampled | None = None
        # The first CPU reading needs a moment of history (psutil measures between calls).
        self._loop = Repeating(
            "metrics-sampler",
            self.publish_sample,
            settings.metrics_interval_s,
            first_delay_s=min(1.0, settings.metrics_interval_s),
        )
        self.app = _app(self)

    async def start(self) -> None:
        psutil.cpu_percent(interval=None)  # start the CPU clock
        await self._loop.start()
        await self.heartbeat.start()

    async def stop(self) -> None:
        await self.heartbeat.stop()
        await self._loop.stop()

    async def sample_once(self) -> MetricsSampled:
        depth = await self.bus.queue_depth(TRAINING_QUEUE)
        queues = {TRAINING_QUEUE: depth} if depth is not None else {}
        event = await asyncio.to_thread(sample, self.settings.data_dir, queues)
        CPU.set(event.cpu_percent)
        MEMORY.set(event.memory_percent)
        DISK.set(event.disk_percent)
        for name, value in queues.items():
            QUEUE.labels(name).set(value)
        self.latest = event
        return event

    async def publish_sample(self) -> None:
        try:
            await self.bus.publish(await self.sample_once())
        except BusUnavailable:
            log.warning("metrics not sent: broker unavailable")


def _app(service: MetricsService) -> FastAPI:
    app = FastAPI(title="metrics", docs_url=None, redoc_url=None)
    install_common(app, "metrics")

    @app.get("/health")
    async def health() -> dict[str, object]:
        latest = service.latest.model_dump(mode="json") if service.latest else None
        return {"status": "ok" if service.bus.connected else "degraded", "latest": latest}

    return app


def bootstrap(settings: MetricsSettings, bus: Bus) -> MetricsService:
    return MetricsService(settings, bus)
