"""The bus port, and the delivery policy both implementations share (in-process and RabbitMQ).

Semantics every bus keeps (tests/contract/bus_contract.py checks them):
- `publish` returns once the event is safely handed over (publisher confirm on RabbitMQ);
  it raises `BusUnavailable` when that cannot be done.
- A subscription is typed, as in faststream: the annotation of the handler's first parameter
  (one event class, a union of them, or `Event` for all) says which events it gets, and the
  routing keys are those classes' `type` strings. A handler only ever receives those types.
- `consume_work(queue, handler)`: a durable, shared work queue. Every matching event goes to ONE
  consumer of that queue. The event is acked only after the handler returns. A handler that
  raises `RejectEvent` dead-letters it at once; any other exception requeues it, up to
  `max_deliveries`, after which it is dead-lettered; so is a message that is not one of the
  handler's events. Events published while no consumer runs wait in the queue (once the queue
  has been declared by a consumer or by `declare_work_queue`).
- `consume_broadcast(handler)`: every subscriber (every replica) gets its own copy; nothing is
  kept for subscribers that are not running, and a failed copy is not retried.

This module decides all of that once (subscription.py reads the types and decodes bodies); an
implementation only moves bytes: it publishes, hands over work messages (`WorkMessage`: ack,
requeue, dead-letter) and fills broadcast inboxes.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from prometheus_client import Counter, Histogram

from services.common.bus.subscription import (
    EventT,
    Handler,
    Subscription,
    encode,
    subscribed_events,
)
from services.common.events import Event

__all__ = [
    "Bus",
    "BusUnavailable",
    "EventT",
    "Handler",
    "RejectEvent",
    "SettleWork",
    "WorkMessage",
    "subscribed_events",
]

log = logging.getLogger(__name__)

PUBLISHED = Counter("mlops_bus_events_published_total", "Events the broker took", ["type"])
HANDLED = Counter("mlops_bus_events_handled_total", "Events handled", ["type", "outcome"])
HANDLE_SECONDS = Histogram("mlops_bus_handle_seconds", "Time to handle an event", ["type"])


class BusUnavailable(Exception):
    """The broker cannot take the event right now."""


class RejectEvent(Exception):
    """Raised by a handler for an event that can never succeed: dead-letter it, do not retry."""


class WorkMessage(abc.ABC):
    """One delivery from a work queue, as a transport hands it over; the bus settles it once."""

    body: bytes
    attempt: int
    """1 on the first delivery, counting the redeliveries after failures."""

    @abc.abstractmethod
    async def ack(self) -> None: ...

    @abc.abstractmethod
    async def requeue(self) -> None: ...

    @abc.abstractmethod
    async def dead_letter(self, reason: str) -> None:
        """`reason`: `rejected` (RejectEvent), `delivery_limit` (kept failing) or `malformed`."""


SettleWork = Callable[[WorkMessage], Coroutine[Any, Any, None]]
"""What a transport calls for each work message it receives (in a task of its own)."""


class Bus(abc.ABC):
    """The port services use. Subclasses implement the transport hooks at the bottom."""

    max_deliveries: int

    def __init__(self, *, max_deliveries: int = 5) -> None:
        self.max_deliveries = max_deliveries
        self._tasks: set[asyncio.Task[None]] = set()

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop handlers (`_stop_tasks`); an event whose handler was interrupted is redelivered."""

    @abc.abstractmethod
    async def queue_depth(self, queue: str) -> int | None:
        """Messages waiting in a work queue, or None when unknown."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool: ...

    async def publish(self, event: Event) -> None:
        await self._publish(event, encode(event))
        PUBLISHED.labels(event.type).inc()

    async def declare_work_queue(self, queue: str, *events: type[Event]) -> None:
        """Make sure a durable work queue exists and is bound, so events wait for consumers."""
        await self._declare_work_queue(queue, tuple(cls.type for cls in events))

    async def consume_work(
        self, queue: str, handler: Callable[[EventT], Awaitable[None]], *, prefetch: int = 1
    ) -> None:
        subscription = Subscription(handler)
        settle = partial(self._settle_work, queue, subscription)
        await self._consume_work(queue, subscription.routing_keys, settle, prefetch)

    async def consume_broadcast(self, handler: Callable[[EventT], Awaitable[None]]) -> None:
        subscription = Subscription(handler)
        inbox = await self._subscribe_broadcast(subscription.routing_keys)
        # One task per subscriber keeps events in order; a slow one only delays itself.
        self._spawn(self._dispatch_broadcast(inbox, subscription))

    async def _settle_work(
        self, queue: str, subscription: Subscription[Any], message: WorkMessage
    ) -> None:
        try:
            event = subscription.decode(message.body)
        except ValueError as exc:
            await self._give_up(queue, message, "malformed", exc)
            return
        try:
            await self._handle(subscription, event)
        except RejectEvent as exc:
            await self._give_up(queue, message, "rejected", exc)
        except Exception as exc:
            if message.attempt >= self.max_deliveries:
                await self._give_up(queue, message, "delivery_limit", exc)
            else:
                log.warning(
                    "handler failed on %s %s from %s (attempt %d of %d), redelivering: %r",
                    event.type,
                    event.id,
                    queue,
                    message.attempt,
                    self.max_deliveries,
                    exc,
                )
                await message.requeue()
        else:
            await message.ack()

    async def _give_up(self, queue: str, message: WorkMessage, reason: str, exc: Exception) -> None:
        log.warning(
            "dead-lettering a message from %s (%s, attempt %d): %r",
            queue,
            reason,
            message.attempt,
            exc,
        )
        await message.dead_letter(reason)

    async def _dispatch_broadcast(
        self, inbox: asyncio.Queue[bytes], subscription: Subscription[Any]
    ) -> None:
        while True:
            body = await inbox.get()
            try:
                event = subscription.decode(body)
            except ValueError as exc:
                log.warning("ignoring a broadcast message: %r", exc)
                continue
            try:
                await self._handle(subscription, event)
            except Exception:
                log.exception("broadcast handler failed")  # not retried; the next event comes

    async def _handle(self, subscription: Subscription[Any], event: Event) -> None:
        """Run the handler, counted and timed by event type and outcome (for /metrics)."""
        started = time.perf_counter()
        try:
            await subscription.handler(event)
        except BaseException:
            HANDLED.labels(event.type, "error").inc()
            raise
        else:
            HANDLED.labels(event.type, "ok").inc()
        finally:
            HANDLE_SECONDS.labels(event.type).observe(time.perf_counter() - started)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Handlers run in tasks the bus owns: a long one (training) never blocks the transport,
        # survives a reconnect, and close() can cancel it.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a handler that ignores its cancellation must not block shutdown
            await asyncio.wait(tasks, timeout=10)

    # The transport: how bytes get to the broker and back.

    @abc.abstractmethod
    async def _publish(self, event: Event, body: bytes) -> None:
        """Hand `body` over with routing key `event.type`; BusUnavailable when it cannot."""

    @abc.abstractmethod
    async def _declare_work_queue(self, queue: str, routing_keys: tuple[str, ...]) -> None: ...

    @abc.abstractmethod
    async def _consume_work(
        self, queue: str, routing_keys: tuple[str, ...], settle: SettleWork, prefetch: int
    ) -> None:
        """Declare and bind `queue`, then run `settle` on each message, at most `prefetch` at
        a time, each in a task of the bus (`_spawn`)."""

    @abc.abstractmethod
    async def _subscribe_broadcast(self, routing_keys: tuple[str, ...]) -> asyncio.Queue[bytes]:
        """A new inbox that gets a copy of every event published with one of `routing_keys`."""
