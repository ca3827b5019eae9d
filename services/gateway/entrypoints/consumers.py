"""The gateway's bus consumers. Training updates are recorded once, by whichever replica takes
them from the shared records queue; what every replica's pages need (what changed, machine
readings, heartbeats) arrives on a broadcast copy of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.orm import Session

from services.common.bus import Bus
from services.common.events import (
    RECORDS_QUEUE,
    DashboardChanged,
    MetricsSampled,
    ServiceHeartbeat,
    TrainingCancelled,
    TrainingFailed,
    TrainingProgressed,
    TrainingStarted,
    TrainingSucceeded,
)
from services.common.storage import FileStore
from services.gateway.adapters.live import LiveHub
from services.gateway.adapters.live_news import show
from services.gateway.adapters.smtp import EmailSender
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.emails import Notice
from services.gateway.domain.schemas import Health
from services.gateway.domain.status import HealthBoard, MachineReadings
from services.gateway.handlers import jobs, notifications
from services.gateway.settings import GatewaySettings

TrainingUpdate = (
    TrainingStarted | TrainingProgressed | TrainingSucceeded | TrainingFailed | TrainingCancelled
)
LiveEvent = DashboardChanged | MetricsSampled | ServiceHeartbeat


class Recorder:
    """Records what trainers report, then asks for the email a finished job gets."""

    def __init__(
        self, uow: UnitOfWork, store: FileStore, settings: GatewaySettings, emails: EmailSender
    ):
        self._uow, self._store, self._settings, self._emails = uow, store, settings, emails

    async def record(self, event: TrainingUpdate) -> None:
        notice = await self._uow.run(lambda session: self._record(session, event))
        if notice is not None:  # committed: tell the person, without holding up this queue
            self._emails.submit(notice)

    def _record(self, session: Session, event: TrainingUpdate) -> Notice | None:
        """Record one update; the email to send once it is committed, if this update is the
        one that finished the job (a redelivered event finds it finished and asks for none)."""
        match event:
            case TrainingStarted():
                jobs.record_started(session, event)
            case TrainingProgressed():
                jobs.record_progress(session, event)
            case TrainingSucceeded():
                if jobs.record_succeeded(session, self._store, event):
                    return notifications.for_success(session, self._settings, event.model_id)
            case TrainingFailed():
                if jobs.record_failed(session, event):
                    return notifications.for_failure(session, self._settings, event.job_id)
            case TrainingCancelled():
                jobs.record_cancelled(session, event)
        return None


class LivePush:
    """Keeps this replica's view of the system and sends its pages what changed."""

    def __init__(
        self,
        hub: LiveHub,
        board: HealthBoard,
        readings: MachineReadings,
        health: Callable[[], Awaitable[Health]],
    ):
        self._hub, self._board, self._readings, self._health = hub, board, readings, health
        self._last_components: dict[str, str] = {}

    async def push(self, event: LiveEvent) -> None:
        match event:
            case DashboardChanged():
                show(self._hub, event)
            case MetricsSampled():
                self._hub.broadcast("metrics", self._readings.saw(event))
            case ServiceHeartbeat():
                self._board.saw(event)
                await self._push_health_if_changed()

    async def _push_health_if_changed(self) -> None:
        health = await self._health()
        if health.components != self._last_components:
            self._last_components = dict(health.components)
            self._hub.broadcast("health", health)


async def subscribe(bus: Bus, recorder: Recorder, live: LivePush) -> None:
    await bus.consume_work(RECORDS_QUEUE, recorder.record, prefetch=10)
    await bus.consume_broadcast(live.push)
