"""Migrations and the outbox on real PostgreSQL."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from services.common.bus import MemoryBus
from services.common.events import TrainingRequested
from services.gateway.adapters.database import Database, make_engine, migrate
from services.gateway.adapters.outbox import OutboxRelay, enqueue

pytestmark = pytest.mark.integration


def test_concurrent_migrations_from_scratch(postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(migrate, engines))  # replicas starting together must not collide
    tables = set(sa.inspect(engines[0]).get_table_names())
    assert {
        "datasets",
        "jobs",
        "models",
        "settings",
        "activity",
        "outbox",
        "alembic_version",
    } <= tables
    for engine in engines:
        engine.dispose()


async def test_outbox_publishes_each_event_once_in_order(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    await asyncio.to_thread(migrate, engine)
    db = Database(engine)
    bus = MemoryBus()
    await bus.start()
    seen: list[str] = []

    async def record(event: TrainingRequested) -> None:
        seen.append(event.job_id)

    await bus.consume_work("q", record)
    with db.unit_of_work() as session:
        for n in range(5):
            enqueue(
                session,
                TrainingRequested(
                    job_id=f"j{n}",
                    model_id="m",
                    dataset_id="d",
                    dataset_path="p",
                    target="t",
                    time_budget_s=10,
                ),
            )
    relays = [OutboxRelay(db, bus), OutboxRelay(db, bus)]
    for relay in relays:
        await relay.start()
    sent = await asyncio.gather(*(relay.flush() for relay in relays))
    assert sum(sent) == 5
    for _ in range(100):
        if len(seen) == 5:
            break
        await asyncio.sleep(0.05)
    assert sorted(seen) == [f"j{n}" for n in range(5)]
    for relay in relays:
        await relay.stop()
    await bus.close()
    engine.dispose()
