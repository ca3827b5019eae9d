"""The gateway as one runnable service: its parts from the composition root, then its entry
points (HTTP app, bus consumers, timers) given exactly what each uses, started in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from services.common.bus import Bus
from services.common.lifecycle import Lifecycle, Step
from services.common.storage import FileStore
from services.gateway.adapters.database import migrate
from services.gateway.bootstrap import Gateway, bootstrap, declare_jobs_queue
from services.gateway.entrypoints.consumers import LivePush, Recorder, subscribe
from services.gateway.entrypoints.http import build_app
from services.gateway.entrypoints.timers import Cleaner, JobWatchdog, Reconciler
from services.gateway.handlers import models
from services.gateway.settings import GatewaySettings

FRONTEND = Path(__file__).resolve().parents[3] / "frontend"


class GatewayService(Lifecycle):
    def __init__(self, gateway: Gateway):
        g = gateway
        self.gateway = g
        self.recorder = Recorder(g.uow, g.store, g.settings, g.emails)
        self.live = LivePush(g.hub, g.board, g.readings, g.health)
        self.watchdog = JobWatchdog(g.uow, g.board, g.emails, g.settings, g.bus.max_deliveries)
        self.reconciler = Reconciler(g.uow, g.store, g.bus, self.recorder, g.settings)
        self.cleaner = Cleaner(g.uow, g.store, g.settings)
        self.app = build_app(g, self.cleaner, FRONTEND)
        super().__init__(
            "gateway",
            Step("database", self._migrate, self._close_database),
            g.news,
            Step("subscriptions", self._subscribe),
            g.relay,
            Step("emails", stop=g.emails.stop),
            self.watchdog,
            self.reconciler,
            self.cleaner,
            Step("predictor client", stop=g.predictor.close),
        )

    async def _migrate(self) -> None:
        await asyncio.to_thread(migrate, self.gateway.db.engine)
        store = self.gateway.store
        await self.gateway.uow.run(lambda s: models.upgrade_signatures(s, store))

    async def _close_database(self) -> None:
        self.gateway.db.engine.dispose()

    async def _subscribe(self) -> None:
        await declare_jobs_queue(self.gateway.bus)
        await subscribe(self.gateway.bus, self.recorder, self.live)


def create(
    settings: GatewaySettings,
    bus: Bus,
    store: FileStore,
    predictor_http: httpx.AsyncClient | None = None,
) -> GatewayService:
    """The gateway service; `predictor_http` reaches the predictor in-process (mlops all)."""
    return GatewayService(bootstrap(settings, bus, store, predictor_http))
