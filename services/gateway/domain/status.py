"""What this gateway knows of the system from the bus: which services are alive (their
heartbeats), the overall health answer, and the machine's latest readings."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from services.common.events import MetricsSampled, ServiceHeartbeat

SERVICES = ("trainer", "predictor", "metrics")
State = Literal["ok", "degraded", "down", "unknown"]
Overall = Literal["ok", "degraded", "down"]


class HealthBoard:
    def __init__(self, heartbeat_interval_s: float, clock: Callable[[], float] = time.monotonic):
        self._stale_after = 3 * heartbeat_interval_s
        self._clock = clock
        self._seen: dict[str, dict[str, float]] = {name: {} for name in SERVICES}
        self._status: dict[str, dict[str, str]] = {name: {} for name in SERVICES}
        self._jobs: dict[str, list[str]] = {}
        self.started = clock()

    def saw(self, beat: ServiceHeartbeat) -> None:
        if beat.service in self._seen:
            self._seen[beat.service][beat.instance] = self._clock()
            self._status[beat.service][beat.instance] = beat.status
        if beat.service == "trainer":
            self._jobs[beat.instance] = [str(j) for j in beat.details.get("jobs", [])]

    def service_state(self, service: str) -> State:
        now = self._clock()
        live = [i for i, seen in self._seen[service].items() if now - seen <= self._stale_after]
        if not live:
            return "down"
        return "ok" if any(self._status[service][i] == "ok" for i in live) else "degraded"

    def instances(self, service: str) -> int:
        now = self._clock()
        return sum(1 for seen in self._seen[service].values() if now - seen <= self._stale_after)

    @property
    def stale_after(self) -> float:
        return self._stale_after

    def watching_long_enough(self) -> bool:
        """Only judge who is alive after listening for a few heartbeats (e.g. after a restart)."""
        return self._clock() - self.started > self._stale_after

    def claimed_jobs(self) -> set[str]:
        """Jobs some live trainer says it is training."""
        now = self._clock()
        live = {i for i, seen in self._seen["trainer"].items() if now - seen <= self._stale_after}
        return {job for instance in live for job in self._jobs.get(instance, [])}

    def components(self, database: bool, broker: bool, storage: bool) -> dict[str, State]:
        parts: dict[str, State] = {
            "database": "ok" if database else "down",
            "broker": "ok" if broker else "down",
            "storage": "ok" if storage else "down",
        }
        parts.update({name: self.service_state(name) for name in SERVICES})
        return parts


def overall(components: dict[str, State]) -> Overall:
    if components["database"] == "down" or components["storage"] == "down":
        return "down"
    return "ok" if all(v == "ok" for v in components.values()) else "degraded"


class MachineReadings:
    """The latest machine sample and the last hour of them (at the default 5 s interval)."""

    def __init__(self, keep: int = 720):
        self.latest: dict[str, Any] | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=keep)

    def saw(self, event: MetricsSampled) -> dict[str, Any]:
        sample = event.model_dump(mode="json", exclude={"id", "version", "correlation_id"})
        self.latest = sample
        self.history.append(sample)
        return sample
