"""Every API test again, with the services on real RabbitMQ and PostgreSQL: a full training job
over RabbitMQ, metadata in PostgreSQL (migrated from scratch), the outbox relaying to the broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import delete_bus_namespace, running_product
from tests.unit.test_api import *  # noqa: F403 - the same behaviour, on the real infrastructure

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def namespace(amqp_url: str) -> Iterator[str]:
    """One set of queues for this module's tests, deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_bus_namespace(amqp_url, name))


@pytest.fixture
async def api(  # noqa: F811 - replaces the in-process fixture
    tmp_path: Path, amqp_url: str, postgres_url: str, namespace: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_product(
        data_dir=tmp_path,
        broker_url=amqp_url,
        database_url=postgres_url,
        bus_namespace=namespace,
        max_upload_mb=1,
        heartbeat_interval_s=0.5,
        metrics_interval_s=0.5,
    ) as client:
        yield client
