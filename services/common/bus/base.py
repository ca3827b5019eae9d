"""The bus port: one interface, two implementations (in-process and RabbitMQ).

Semantics both implementations keep (tests/contract/bus_contract.py checks them):
- `publish` returns once the event is safely handed over (publisher confirm on RabbitMQ);
  it raises `BusUnavailable` when that cannot be done.
- `consume_work(queue, ...)`: a durable, shared work queue. Every matching event goes to ONE
  consumer of that queue. The event is acked only after the handler returns. A handler that
  raises `RejectEvent` dead-letters it at once; any other exception requeues it, up to
  `max_deliveries`, after which it is dead-lettered. Events published while no consumer runs
  wait in the queue (once the queue has been declared by a consumer or by `declare_work_queue`).
- `consume_broadcast(...)`: every subscriber (every replica) gets its own copy; nothing is kept
  for subscribers that are not running.
- Routing keys are event types; patterns use AMQP topic syntax (`*` one word, `#` zero or more).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import Counter, Histogram

from services.common.events import Event

Handler = Callable[[Event], Awaitable[None]]

PUBLISHED = Counter("mlops_bus_events_published_total", "Events the broker took", ["type"])
HANDLED = Counter("mlops_bus_events_handled_total", "Events handled", ["type", "outcome"])
HANDLE_SECONDS = Histogram("mlops_bus_handle_seconds", "Time to handle an event", ["type"])


def measured(handler: Handler) -> Handler:
    """Count and time every call of a handler, by event type and outcome (for /metrics)."""

    async def counted(event: Event) -> None:
        started = time.perf_counter()
        try:
            await handler(event)
        except BaseException:
            HANDLED.labels(event.type, "error").inc()
            raise
        else:
            HANDLED.labels(event.type, "ok").inc()
        finally:
            HANDLE_SECONDS.labels(event.type).observe(time.perf_counter() - started)

    return counted


class BusUnavailable(Exception):
    """The broker cannot take the event right now."""


class RejectEvent(Exception):
    """Raised by a handler for an event that can never succeed: dead-letter it, do not retry."""


class Bus(abc.ABC):
    max_deliveries: int = 5

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, event: Event) -> None: ...

    @abc.abstractmethod
    async def declare_work_queue(self, queue: str, patterns: Sequence[str]) -> None:
        """Make sure a durable work queue exists and is bound, so events wait for consumers."""

    @abc.abstractmethod
    async def consume_work(
        self, queue: str, patterns: Sequence[str], handler: Handler, prefetch: int = 1
    ) -> None: ...

    @abc.abstractmethod
    async def consume_broadcast(self, patterns: Sequence[str], handler: Handler) -> None: ...

    @abc.abstractmethod
    async def queue_depth(self, queue: str) -> int | None:
        """Messages waiting in a work queue, or None when unknown."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool: ...


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` is zero or more words."""
    return _match(pattern.split("."), key.split("."))


def _match(pat: list[str], words: list[str]) -> bool:
    if not pat:
        return not words
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
