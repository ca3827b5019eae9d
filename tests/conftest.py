"""Service URLs for tests: environment variables first, then testcontainers when a Docker
engine is reachable, else skip -- except with CI=true, where a missing service fails the run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def _docker_reachable() -> bool:
    try:
        import docker  # installed with testcontainers

        docker.from_env().ping()
        return True
    except Exception:
        return False


def _unavailable(what: str) -> None:
    message = f"{what} is not configured and no Docker engine is reachable"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true never skips")
    pytest.skip(message)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """RabbitMQ: MLOPS_TEST_AMQP_URL, else a testcontainer."""
    url = os.environ.get("MLOPS_TEST_AMQP_URL")
    if url:
        yield url
        return
    if not _docker_reachable():
        _unavailable("RabbitMQ (MLOPS_TEST_AMQP_URL)")
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
        params = rabbit.get_connection_params()
        yield f"amqp://guest:guest@{params.host}:{params.port}/"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """PostgreSQL server: MLOPS_TEST_POSTGRES_URL, else a testcontainer."""
    url = os.environ.get("MLOPS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if not _docker_reachable():
        _unavailable("PostgreSQL (MLOPS_TEST_POSTGRES_URL)")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver=None) as pg:
        yield pg.get_connection_url()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database of its own for one test, dropped afterwards."""
    import sqlalchemy as sa

    from services.gateway.adapters.database import normalize_url

    name = f"mlops_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(postgres_server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base, _, _ = postgres_server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for queue names, folders and the like."""
    return uuid.uuid4().hex[:10]
