"""The event bus: one port (`Bus`), an in-process and a RabbitMQ implementation."""

from __future__ import annotations

from services.common.bus.amqp import AmqpBus
from services.common.bus.base import (
    Bus,
    BusUnavailable,
    EventT,
    Handler,
    RejectEvent,
    Unroutable,
    is_transient,
    subscribed_events,
)
from services.common.bus.memory import MemoryBus

__all__ = [
    "AmqpBus",
    "Bus",
    "BusUnavailable",
    "EventT",
    "Handler",
    "MemoryBus",
    "RejectEvent",
    "Unroutable",
    "create_bus",
    "is_transient",
    "subscribed_events",
]


def create_bus(url: str, *, namespace: str = "mlops", retry_window_s: float = 600.0) -> Bus:
    """The bus for a broker URL: `memory://` in-process, `amqp://` / `amqps://` RabbitMQ.

    `namespace` prefixes the exchange and queue names on RabbitMQ."""
    if url.startswith("memory://"):
        return MemoryBus(retry_window_s=retry_window_s)
    if url.startswith(("amqp://", "amqps://")):
        return AmqpBus(
            url,
            exchange=f"{namespace}.events",
            queue_prefix=f"{namespace}.",
            retry_window_s=retry_window_s,
        )
    raise ValueError(f"unknown broker URL {url.split('://')[0]!r}: use memory:// or amqp://")
