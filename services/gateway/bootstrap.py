"""The gateway's composition root: builds its parts once and wires them to each other. It only
wires: the entry points (HTTP routes, WebSocket, bus consumers, timers) import it and take from
`Gateway` exactly the parts they use; nothing here imports an entry point."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.common.admission import Admission
from services.common.bus import Bus
from services.common.events import TRAINING_QUEUE, TrainingRequested
from services.common.storage import FileStore
from services.gateway.adapters.database import Database, make_engine
from services.gateway.adapters.live import LiveHub
from services.gateway.adapters.live_news import LiveNews
from services.gateway.adapters.outbox import OutboxRelay
from services.gateway.adapters.predictor_client import PredictorClient, replica_urls
from services.gateway.adapters.smtp import EmailSender, Mailer
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.emails import Notice
from services.gateway.domain.schemas import Health
from services.gateway.domain.status import HealthBoard, MachineReadings
from services.gateway.handlers import notifications
from services.gateway.handlers.announce import Announcer
from services.gateway.handlers.models import SwitchedOn
from services.gateway.handlers.system import check_health
from services.gateway.settings import GatewaySettings


@dataclass
class Gateway:
    """The gateway's parts, built once per process."""

    settings: GatewaySettings
    bus: Bus
    store: FileStore
    db: Database
    uow: UnitOfWork
    """One transaction per request or message, and what follows its commit."""
    relay: OutboxRelay
    hub: LiveHub
    """This replica's connected pages."""
    news: LiveNews
    """What changed, on its way to every replica's pages."""
    board: HealthBoard
    readings: MachineReadings
    emails: EmailSender
    predictor: PredictorClient
    switched_on: SwitchedOn
    admission: Admission
    """Predictions under way through this gateway: more are refused at the door (503 busy)."""
    """The models this replica last saw switched on (predictions while the database is away)."""

    async def health(self) -> Health:
        return await check_health(self.db, self.bus, self.store, self.board)


async def declare_jobs_queue(bus: Bus) -> None:
    """Jobs must wait in the queue even when no trainer is running yet."""
    await bus.declare_work_queue(TRAINING_QUEUE, TrainingRequested)


def bootstrap(
    settings: GatewaySettings,
    bus: Bus,
    store: FileStore,
    predictor_http: httpx.AsyncClient | None = None,
) -> Gateway:
    """Build the gateway's parts; `predictor_http` lets one process reach the predictor
    in-process (mlops all) instead of over the network."""
    db = Database(make_engine(settings.resolved_database_url))
    hub = LiveHub()
    relay = OutboxRelay(db, bus, declare_queues=lambda: declare_jobs_queue(bus))
    news = LiveNews(bus, hub)
    announcer = Announcer(db, news)

    async def sent(notice: Notice, failure: str | None) -> None:
        await announcer.tell([notifications.attempted(notice, failure)])

    return Gateway(
        settings=settings,
        bus=bus,
        store=store,
        db=db,
        uow=UnitOfWork(db, relay.wake, announcer.tell),
        relay=relay,
        hub=hub,
        news=news,
        board=HealthBoard(settings.heartbeat_interval_s),
        readings=MachineReadings(),
        emails=EmailSender(Mailer(settings), settings.smtp_timeout_s, sent),
        predictor=PredictorClient.of(settings, predictor_http),
        switched_on=SwitchedOn(),
        admission=Admission(
            settings.predict_concurrency * len(replica_urls(settings.predictor_url)),
            settings.predict_queue,
            settings.predict_max_wait_s,
        ),
    )
