"""Questions about the system as a whole: is it healthy, and what is it made of."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from services.common.bus import Bus
from services.common.storage import FileStore
from services.gateway.adapters.database import Database
from services.gateway.domain.schemas import Health
from services.gateway.domain.status import HealthBoard, overall
from services.gateway.settings import GatewaySettings


async def check_health(db: Database, bus: Bus, store: FileStore, board: HealthBoard) -> Health:
    # Round trips, not cached flags: a silent partition shows within one check.
    database, broker = await asyncio.gather(asyncio.to_thread(db.ping), bus.ping())
    storage = os.access(store.root, os.W_OK)
    components = board.components(database, broker, storage)
    return Health(status=overall(components), components=components)


def setup(settings: GatewaySettings) -> dict[str, Any]:
    """Which database and message broker this gateway uses, and whether it sends emails: the
    Architecture page names them, the Settings page says whether an email will come."""
    url = settings.resolved_database_url
    return {
        "database": "PostgreSQL" if url.startswith("postgres") else "SQLite",
        "broker": "RabbitMQ" if settings.broker_url.startswith("amqp") else "in-process",
        "email": settings.email_enabled,
    }
