"""Shared by the integration modules: one bus namespace per module, and the product started on
real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import delete_bus_namespace, running_product

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is marked `integration`."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def namespace(amqp_url: str) -> Iterator[str]:
    """One set of queues for a module's tests, deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_bus_namespace(amqp_url, name))


@pytest.fixture
def product_on_infra(tmp_path: Path, amqp_url: str, postgres_url: str, namespace: str):
    """product_on_infra(**settings): the product on RabbitMQ + PostgreSQL, as an async context."""

    @contextlib.asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with running_product(
            data_dir=tmp_path,
            broker_url=amqp_url,
            database_url=postgres_url,
            bus_namespace=namespace,
            heartbeat_interval_s=0.5,
            metrics_interval_s=0.5,
            **settings,
        ) as client:
            yield client

    return start
