"""Every API test again, with the services on real RabbitMQ and PostgreSQL: a full training job
over RabbitMQ, metadata in PostgreSQL (migrated from scratch), the outbox relaying to the broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.test_api import *  # noqa: F403 - the same behaviour, on the real infrastructure

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
async def api(product_on_infra) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811 - replaces the in-process fixture
    async with product_on_infra(max_upload_mb=1) as client:
        yield client
