"""Helpers shared by the test tiers: polling with a deadline and small real datasets."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
import numpy as np
import pandas as pd

from services.cli import build
from services.common.bus import MemoryBus
from services.common.events import (
    WORK_QUEUES,
    MetricsSampled,
    TrainingRequested,
    TrainingSucceeded,
)
from services.common.model_report import ModelReport
from services.common.storage import FileStore
from services.gateway.entrypoints.service import create
from services.gateway.settings import GatewaySettings


async def eventually(probe: Callable[[], Any], within: float = 60, every: float = 0.05) -> Any:
    """Poll `probe` (sync or async) until it returns something truthy and return that;
    fail after `within` seconds. Tests wait with a deadline, never a bare sleep."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s (last value: {last!r})")


def training_requested(n: int = 0, **changes: Any) -> TrainingRequested:
    """A valid `training.requested` event for tests; `changes` override its fields."""
    fields: dict[str, Any] = dict(
        correlation_id=f"job-{n}",
        job_id=f"job-{n}",
        model_id=f"model-{n}",
        dataset_id="ds-1",
        dataset_path="datasets/ds-1.csv",
        target="price",
        time_budget_s=30,
    )
    return TrainingRequested(**{**fields, **changes})


def model_report(**changes: Any) -> ModelReport:
    """A valid model report for tests; `changes` override its fields."""
    fields: dict[str, Any] = dict(
        task="regression",
        target="price",
        algorithm="ridge",
        score_name="r2",
        score=0.9,
        light="green",
        summary="Good.",
    )
    return ModelReport(**{**fields, **changes})


def training_succeeded(**changes: Any) -> TrainingSucceeded:
    """A valid `training.succeeded` event for tests; `changes` override its fields."""
    where = dict(job_id="j", model_id="m", model_path="models/m.joblib", dataset_id="d")
    return TrainingSucceeded(**{**model_report().model_dump(), **where, **changes})


def metrics_sampled(**changes: Any) -> MetricsSampled:
    """A valid `metrics.sampled` event for tests."""
    fields: dict[str, Any] = dict(
        host="h",
        cpu_percent=1.0,
        memory_percent=2.0,
        memory_used_mb=3.0,
        memory_total_mb=4.0,
        disk_percent=5.0,
        disk_free_gb=6.0,
    )
    return MetricsSampled(**{**fields, **changes})


def churn_csv(rows: int = 300, seed: int = 0) -> bytes:
    """A small customer-churn table with a learnable signal, a category, gaps and an ID."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    monthly = rng.normal(70, 20, rows).round(2)
    plan = rng.choice(["basic", "plus", "premium"], rows)
    score = -0.05 * tenure + 0.03 * monthly + (plan == "basic") * 1.0 + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "plan": plan,
            "churn": np.where(score > np.median(score), "yes", "no"),
        }
    )
    frame.loc[frame.index % 17 == 0, "monthly_charges"] = np.nan
    return frame.to_csv(index=False).encode()


def prices_csv(rows: int = 300, seed: int = 1) -> bytes:
    """A small regression table: price from size and rooms."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(30, 200, rows).round(1)
    rooms = rng.integers(1, 6, rows)
    price = (size * 3000 + rooms * 10000 + rng.normal(0, 20000, rows)).round(0)
    return (
        pd.DataFrame({"size_m2": size, "rooms": rooms, "price": price}).to_csv(index=False).encode()
    )


@contextlib.asynccontextmanager
async def running_product(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The whole product (`mlops all`) inside the test's event loop, and a client for its API.
    `settings` override the environment (data_dir, broker_url, ...)."""
    async with running_gateway(**settings) as (client, _):
        yield client


@contextlib.asynccontextmanager
async def running_gateway(**settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """As `running_product`, with the gateway itself too (a test may hand it events)."""
    bus, components = build("all", **settings)
    await bus.start()
    started = []
    try:
        for component in components:
            await component.start()
            started.append(component)
        transport = httpx.ASGITransport(app=components[0].app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, components[0]
    finally:
        for step in [*(c.stop for c in reversed(started)), bus.close]:
            await _bounded(step)


async def _bounded(step: Callable[[], Any], within: float = 20) -> None:
    """Shutting down must never hang a test run: fail with every task's stack instead."""
    started = time.monotonic()
    timer = asyncio.get_running_loop().call_later(within, _print_task_stacks)
    try:
        await step()
    finally:
        timer.cancel()
    took = time.monotonic() - started
    assert took < within, f"{step.__qualname__} took {took:.0f} s to stop"


def _print_task_stacks() -> None:
    import sys

    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)


async def delete_bus_namespace(amqp_url: str, namespace: str) -> None:
    """Remove the durable queues and exchanges a test's namespace created on the shared broker.
    Left behind, hundreds of quorum queues pile up run after run and slow RabbitMQ to a halt."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in WORK_QUEUES:
            for name in (f"{namespace}.{queue}", f"{namespace}.{queue}.dead"):
                await channel.queue_delete(name)
        for exchange in (f"{namespace}.events", f"{namespace}.events.dead"):
            await channel.exchange_delete(exchange)


class BrokerProxy:
    """A TCP relay to RabbitMQ; `down()` refuses connections and cuts the open ones."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = free_port()
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{self.port}"
        self.url = urlunsplit(parts._replace(netloc=netloc))

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # refuse new connections
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()  # on 3.12+ this waits for the cut connections too

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(*self._target)
        self._writers |= {client_w, broker_w}
        await asyncio.gather(_pipe(client_r, broker_w), _pipe(broker_r, client_w))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the other side was cut: down() aborts both ends anyway
    finally:
        writer.transport.abort()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def gateway_alone(
    data_dir: Path, predictor: httpx.AsyncClient | None = None, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The gateway on the in-process bus with no trainer (the test plays the trainer), and a
    client for its API; `predictor` stands in for the predictor service."""
    config = GatewaySettings(data_dir=data_dir, database_url="", broker_url="memory://", **settings)
    bus = MemoryBus()
    await bus.start()
    service = create(config, bus, FileStore(data_dir, b"k" * 32), predictor)
    await service.start()
    try:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, service
    finally:
        await service.stop()
        await bus.close()
