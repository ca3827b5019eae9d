"""Wires the metrics service: a sample of the machine on the bus every few seconds."""

from __future__ import annotations

import asyncio
import logging

import psutil
from prometheus_client import Gauge

from services.common.background import Repeating
from services.common.bus import Bus, BusUnavailable
from services.common.events import TRAINING_QUEUE, WORK_QUEUES, MetricsSampled
from services.common.heartbeat import Heartbeat
from services.common.lifecycle import Lifecycle, Step
from services.common.web import connection_health, service_app
from services.metrics.sampler import sample
from services.metrics.settings import MetricsSettings

log = logging.getLogger(__name__)
CPU = Gauge("mlops_machine_cpu_percent", "CPU use of the machine")
MEMORY = Gauge("mlops_machine_memory_percent", "Memory use of the machine")
DISK = Gauge("mlops_machine_disk_percent", "Disk use of the data folder's disk")
QUEUE = Gauge("mlops_queue_depth", "Messages waiting in a work queue", ["queue"])
DEAD = Gauge("mlops_dead_letters", "Messages a work queue gave up on and keeps", ["queue"])


class MetricsService(Lifecycle):
    def __init__(self, settings: MetricsSettings, bus: Bus):
        self.settings, self.bus = settings, bus
        self.latest: MetricsSampled | None = None
        self.app = service_app("metrics", connection_health(bus, self.details))
        super().__init__(
            "metrics",
            Step("cpu-clock", self._start_cpu_clock),
            # The first CPU reading needs a moment of history (psutil measures between calls).
            Repeating(
                "metrics-sampler",
                self.publish_sample,
                settings.metrics_interval_s,
                first_delay_s=min(1.0, settings.metrics_interval_s),
            ),
            Heartbeat(bus, "metrics", settings.heartbeat_interval_s),
        )

    def details(self) -> dict[str, object]:
        """On /health: the latest sample (heartbeats leave it out: it is on the bus already)."""
        return {"latest": self.latest.model_dump(mode="json") if self.latest else None}

    async def _start_cpu_clock(self) -> None:
        psutil.cpu_percent(interval=None)  # psutil measures CPU use between two calls

    async def sample_once(self) -> MetricsSampled:
        depth = await self.bus.queue_depth(TRAINING_QUEUE)
        queues = {TRAINING_QUEUE: depth} if depth is not None else {}
        dead = {q: await self.bus.dead_letter_count(q) for q in WORK_QUEUES}
        known = {q: n for q, n in dead.items() if n is not None}
        event = await asyncio.to_thread(sample, self.settings.data_dir, queues, known)
        CPU.set(event.cpu_percent)
        MEMORY.set(event.memory_percent)
        DISK.set(event.disk_percent)
        for name, value in queues.items():
            QUEUE.labels(name).set(value)
        for name, value in known.items():
            DEAD.labels(name).set(value)
        self.latest = event
        return event

    async def publish_sample(self) -> None:
        try:
            await self.bus.publish(await self.sample_once())
        except BusUnavailable:
            log.warning("metrics not sent: broker unavailable")


def bootstrap(settings: MetricsSettings, bus: Bus) -> MetricsService:
    return MetricsService(settings, bus)
