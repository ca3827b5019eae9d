"""Wires the gateway: database, files, bus, outbox, live hub, predictor client, emails, the
clean-up of old data and the HTTP app."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.common.bus import Bus
from services.common.events import TRAINING_QUEUE, TRAINING_QUEUE_PATTERNS
from services.common.storage import FileStore
from services.gateway.adapters.database import Database, make_engine, migrate
from services.gateway.adapters.predictor_client import PredictorClient
from services.gateway.cleanup import Cleaner
from services.gateway.consumers import Consumers
from services.gateway.health import HealthBoard, overall
from services.gateway.live import LiveHub
from services.gateway.notify import Notifier
from services.gateway.outbox import OutboxRelay
from services.gateway.schemas import Health
from services.gateway.settings import GatewaySettings
from services.gateway.watchdog import JobWatchdog

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


class Gateway:
    """The gateway's parts, built once and handed to routes and consumers."""

    def __init__(
        self, settings: GatewaySettings, bus: Bus, store: FileStore, predictor: PredictorClient
    ):
        self.settings, self.bus, self.store, self.predictor = settings, bus, store, predictor
        self.db = Database(make_engine(settings.resolved_database_url))
        self.relay = OutboxRelay(self.db, bus)
        self.hub = LiveHub()
        self.board = HealthBoard(settings.heartbeat_interval_s)
        self.notifier = Notifier(settings, self.db)
        self.consumers = Consumers(self)
        self.watchdog = JobWatchdog(self, settings.heartbeat_interval_s)
        self.cleaner = Cleaner(
            self.db, store, settings.cleanup_interval_s, settings.default_time_budget_s
        )
        self.app = _create_app(self)

    async def start(self) -> None:
        await asyncio.to_thread(migrate, self.db.engine)
        # Jobs must wait in the queue even when no trainer is running yet.
        await self.bus.declare_work_queue(TRAINING_QUEUE, TRAINING_QUEUE_PATTERNS)
        await self.consumers.start()
        await self.relay.start()
        await self.watchdog.start()
        await self.cleaner.start()

    async def stop(self) -> None:
        await self.cleaner.stop()
        await self.watchdog.stop()
        await self.notifier.stop()
        await self.relay.stop()
        await self.predictor.close()
        self.db.engine.dispose()

    def clean_up_now(self) -> None:
        """Apply a just-saved clean-up setting at once instead of within the hour."""
        self.cleaner.wake()

    async def health(self) -> Health:
        database = await asyncio.to_thread(self.db.ping)
        storage = os.access(self.store.root, os.W_OK)
        components = self.board.components(database, self.bus.connected, storage)
        return Health(status=overall(components), components=components)  # type: ignore[arg-type]


def _create_app(gateway: Gateway) -> FastAPI:
    from services.gateway.entrypoints.http import build_app

    return build_app(gateway, FRONTEND)


def bootstrap(
    settings: GatewaySettings,
    bus: Bus,
    store: FileStore,
    predictor_http: httpx.AsyncClient | None = None,
) -> Gateway:
    """Build the gateway; `predictor_http` lets one process reach the predictor in-process."""
    http = predictor_http or httpx.AsyncClient(base_url=settings.predictor_url)
    return Gateway(settings, bus, store, PredictorClient(http))
