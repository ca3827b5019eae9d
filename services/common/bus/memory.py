"""The in-process bus: single-process mode and fast tests.

Events are serialised to JSON bytes on publish and parsed back on delivery, exactly as on the
wire, so a handler that works here sees the same typed events it will see over RabbitMQ.
Several `MemoryBus` instances that share one `MemoryBroker` behave like replicas connected to
the same broker: they compete for work queues and each gets its own broadcast copy.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.bus.base import (
    PUBLISHED,
    Bus,
    BusUnavailable,
    Handler,
    RejectEvent,
    measured,
    topic_matches,
)
from services.common.events import Event, parse_event

log = logging.getLogger(__name__)


@dataclass
class DeadLetter:
    """An event a work queue gave up on, kept for inspection (the `<queue>.dead` of RabbitMQ)."""

    queue: str
    body: bytes
    reason: str
    """`rejected` (RejectEvent), `delivery_limit` (kept failing) or `malformed`."""
    attempts: int


@dataclass
class _Delivery:
    body: bytes
    attempts: int = 0


@dataclass
class _WorkQueue:
    name: str
    patterns: set[str] = field(default_factory=set)
    items: asyncio.Queue[_Delivery] = field(default_factory=asyncio.Queue)


@dataclass
class _Subscriber:
    patterns: tuple[str, ...]
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)


class MemoryBroker:
    """What a RabbitMQ server holds: work queues, broadcast subscribers and dead letters.

    Share one broker between several `MemoryBus` instances to model replicas.
    """

    def __init__(self) -> None:
        self.queues: dict[str, _WorkQueue] = {}
        self.subscribers: list[_Subscriber] = []
        self.dead_letters: list[DeadLetter] = []

    def declare(self, queue: str, patterns: Sequence[str]) -> _WorkQueue:
        work_queue = self.queues.setdefault(queue, _WorkQueue(queue))
        work_queue.patterns.update(patterns)
        return work_queue

    def route(self, routing_key: str, body: bytes) -> None:
        """Put a message in every bound work queue and every matching subscriber's inbox.

        Never runs a handler: consumers pick the message up in their own tasks.
        """
        for work_queue in self.queues.values():
            if any(topic_matches(p, routing_key) for p in work_queue.patterns):
                work_queue.items.put_nowait(_Delivery(body))
        for subscriber in self.subscribers:
            if any(topic_matches(p, routing_key) for p in subscriber.patterns):
                subscriber.inbox.put_nowait(body)


class MemoryBus(Bus):
    """`Bus` inside one process. Pass `broker=` to share queues with other instances."""

    def __init__(self, broker: MemoryBroker | None = None, *, max_deliveries: int = 5) -> None:
        self.broker = broker or MemoryBroker()
        self.max_deliveries = max_deliveries
        self._subscribers: list[_Subscriber] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """Dead letters of every queue on the shared broker, oldest first."""
        return self.broker.dead_letters

    @property
    def connected(self) -> bool:
        return self._started

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        """Stop consuming; an event whose handler was interrupted goes back to its queue."""
        self._started = False
        for subscriber in self._subscribers:
            self.broker.subscribers.remove(subscriber)
        self._subscribers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def publish(self, event: Event) -> None:
        if not self._started:
            raise BusUnavailable("the in-process bus is not running")
        self.broker.route(event.type, json.dumps(event.to_message()).encode())
        PUBLISHED.labels(event.type).inc()

    async def declare_work_queue(self, queue: str, patterns: Sequence[str]) -> None:
        self.broker.declare(queue, patterns)

    async def consume_work(
        self, queue: str, patterns: Sequence[str], handler: Handler, prefetch: int = 1
    ) -> None:
        handler = measured(handler)
        work_queue = self.broker.declare(queue, patterns)
        self._spawn(self._consume(work_queue, handler, prefetch))

    async def consume_broadcast(self, patterns: Sequence[str], handler: Handler) -> None:
        handler = measured(handler)
        subscriber = _Subscriber(tuple(patterns))
        self.broker.subscribers.append(subscriber)
        self._subscribers.append(subscriber)
        self._spawn(self._dispatch_broadcast(subscriber, handler))

    async def queue_depth(self, queue: str) -> int | None:
        work_queue = self.broker.queues.get(queue)
        return None if work_queue is None else work_queue.items.qsize()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, work_queue: _WorkQueue, handler: Handler, prefetch: int) -> None:
        # Take a slot before taking an event, so a busy consumer leaves events to its peers.
        slots = asyncio.Semaphore(prefetch)
        while True:
            await slots.acquire()
            delivery = await work_queue.items.get()
            self._spawn(self._handle_work(work_queue, delivery, handler, slots))

    async def _handle_work(
        self,
        work_queue: _WorkQueue,
        delivery: _Delivery,
        handler: Handler,
        slots: asyncio.Semaphore,
    ) -> None:
        delivery.attempts += 1
        try:
            await self._settle(work_queue, delivery, handler)
        except asyncio.CancelledError:
            # The consumer went away before acking: like RabbitMQ, hand the event to another.
            work_queue.items.put_nowait(delivery)
            raise
        finally:
            slots.release()

    async def _settle(self, work_queue: _WorkQueue, delivery: _Delivery, handler: Handler) -> None:
        try:
            event = _decode(delivery.body)
        except ValueError as exc:
            self._dead_letter(work_queue, delivery, "malformed", exc)
            return
        try:
            await handler(event)
        except RejectEvent as exc:
            self._dead_letter(work_queue, delivery, "rejected", exc)
        except Exception as exc:
            if delivery.attempts >= self.max_deliveries:
                self._dead_letter(work_queue, delivery, "delivery_limit", exc)
            else:
                log.warning(
                    "handler failed on %s (attempt %d of %d), redelivering: %r",
                    event.type,
                    delivery.attempts,
                    self.max_deliveries,
                    exc,
                )
                work_queue.items.put_nowait(delivery)

    def _dead_letter(
        self, work_queue: _WorkQueue, delivery: _Delivery, reason: str, exc: Exception
    ) -> None:
        log.warning("dead-lettered a message from %s (%s): %r", work_queue.name, reason, exc)
        self.broker.dead_letters.append(
            DeadLetter(work_queue.name, delivery.body, reason, delivery.attempts)
        )

    async def _dispatch_broadcast(self, subscriber: _Subscriber, handler: Handler) -> None:
        # One task per subscriber: events arrive in order and a slow subscriber delays only itself.
        while True:
            body = await subscriber.inbox.get()
            try:
                await handler(_decode(body))
            except Exception:
                # Broadcast copies are not retried (as on RabbitMQ); the next event still comes.
                log.exception("broadcast handler failed")


def _decode(body: bytes) -> Event:
    """Parse a message body into its typed event; ValueError when it is not one."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("message body is not a JSON object")
    return parse_event(message)
