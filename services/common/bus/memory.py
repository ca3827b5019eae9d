"""The in-process bus: single-process mode and fast tests.

Events are serialised to JSON bytes on publish and parsed back on delivery, exactly as on the
wire, so a handler that works here sees the same typed events it will see over RabbitMQ.
Several `MemoryBus` instances that share one `MemoryBroker` behave like replicas connected to
the same broker: they compete for work queues and each gets its own broadcast copy. What to do
with a message (decode, retry, dead-letter) is decided in base.py; this module only moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.bus.base import Bus, BusUnavailable, SettleWork, Unroutable, WorkMessage
from services.common.bus.dead_letters import DeadLetter, DeadReason, describe
from services.common.events import Event


@dataclass
class _Dead:
    """A message a work queue gave up on (the `<queue>.dead` of RabbitMQ)."""

    letter: DeadLetter
    body: bytes


@dataclass
class _WorkQueue:
    name: str
    routing_keys: set[str] = field(default_factory=set)
    items: asyncio.Queue[_Delivery] = field(default_factory=asyncio.Queue)


@dataclass
class _Subscriber:
    routing_keys: frozenset[str]
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)


@dataclass(eq=False)
class _Delivery(WorkMessage):
    """A message in a work queue; taking it out of `items` is delivering it."""

    body: bytes
    queue: _WorkQueue
    dead_letters: list[_Dead]
    attempt: int = 0

    async def ack(self) -> None:
        pass  # already out of the queue

    async def requeue(self) -> None:
        self.queue.items.put_nowait(self)

    async def dead_letter(self, reason: DeadReason, error: str) -> None:
        now = datetime.now(UTC)
        letter = describe(
            self.queue.name, self.body, reason, error=error, attempts=self.attempt, dead_at=now
        )
        self.dead_letters.append(_Dead(letter, self.body))


class MemoryBroker:
    """What a RabbitMQ server holds: work queues, broadcast subscribers and dead letters.

    Share one broker between several `MemoryBus` instances to model replicas.
    """

    def __init__(self) -> None:
        self.queues: dict[str, _WorkQueue] = {}
        self.subscribers: list[_Subscriber] = []
        self.dead: list[_Dead] = []

    def declare(self, queue: str, routing_keys: tuple[str, ...]) -> _WorkQueue:
        work_queue = self.queues.setdefault(queue, _WorkQueue(queue))
        work_queue.routing_keys.update(routing_keys)
        return work_queue

    def route(self, routing_key: str, body: bytes) -> int:
        """Put a message in every bound work queue and every matching subscriber's inbox;
        how many work queues took it.

        Never runs a handler: consumers pick the message up in their own tasks.
        """
        queued = 0
        for work_queue in self.queues.values():
            if routing_key in work_queue.routing_keys:
                work_queue.items.put_nowait(_Delivery(body, work_queue, self.dead))
                queued += 1
        for subscriber in self.subscribers:
            if routing_key in subscriber.routing_keys:
                subscriber.inbox.put_nowait(body)
        return queued


class MemoryBus(Bus):
    """`Bus` inside one process. Pass `broker=` to share queues with other instances."""

    def __init__(
        self,
        broker: MemoryBroker | None = None,
        *,
        max_deliveries: int = 5,
        retry_window_s: float = 600.0,
    ) -> None:
        super().__init__(max_deliveries=max_deliveries, retry_window_s=retry_window_s)
        self.broker = broker or MemoryBroker()
        self._subscribers: list[_Subscriber] = []
        self._started = False

    @property
    def all_dead_letters(self) -> list[DeadLetter]:
        """Dead letters of every queue on the shared broker, oldest first."""
        return [dead.letter for dead in self.broker.dead]

    @property
    def connected(self) -> bool:
        return self._started

    async def ping(self) -> bool:
        return self._started

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        """Stop consuming; an event whose handler was interrupted goes back to its queue."""
        self._started = False
        for subscriber in self._subscribers:
            self.broker.subscribers.remove(subscriber)
        self._subscribers.clear()
        await self._stop_tasks()

    async def queue_depth(self, queue: str) -> int | None:
        work_queue = self.broker.queues.get(queue)
        return None if work_queue is None else work_queue.items.qsize()

    async def _publish(self, event: Event, body: bytes) -> None:
        if not self._started:
            raise BusUnavailable("the in-process bus is not running")
        if not self.broker.route(event.type, body) and event.queued:
            raise Unroutable(f"no work queue takes {event.type}")

    async def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        return [dead.letter for dead in self.broker.dead if dead.letter.queue == queue][:limit]

    async def _dead_letter_count(self, queue: str) -> int | None:
        return sum(1 for dead in self.broker.dead if dead.letter.queue == queue)

    async def _settle_dead_letters(
        self, queue: str, ids: Collection[str] | None, *, replay: bool
    ) -> int:
        chosen = [
            dead
            for dead in self.broker.dead
            if dead.letter.queue == queue and (ids is None or dead.letter.id in ids)
        ]
        work_queue = self.broker.queues.get(queue)
        if replay and chosen and work_queue is None:
            raise Unroutable(f"the queue {queue} does not exist")
        for dead in chosen:
            self.broker.dead.remove(dead)
            if replay and work_queue is not None:
                work_queue.items.put_nowait(_Delivery(dead.body, work_queue, self.broker.dead))
        return len(chosen)

    async def _declare_work_queue(self, queue: str, routing_keys: tuple[str, ...]) -> None:
        self.broker.declare(queue, routing_keys)

    async def _consume_work(
        self, queue: str, routing_keys: tuple[str, ...], settle: SettleWork, prefetch: int
    ) -> None:
        self._spawn(self._take(self.broker.declare(queue, routing_keys), settle, prefetch))

    async def _subscribe_broadcast(self, routing_keys: tuple[str, ...]) -> asyncio.Queue[bytes]:
        subscriber = _Subscriber(frozenset(routing_keys))
        self.broker.subscribers.append(subscriber)
        self._subscribers.append(subscriber)
        return subscriber.inbox

    async def _take(self, work_queue: _WorkQueue, settle: SettleWork, prefetch: int) -> None:
        # Take a slot before taking an event, so a busy consumer leaves events to its peers.
        slots = asyncio.Semaphore(prefetch)
        while True:
            await slots.acquire()
            delivery = await work_queue.items.get()
            delivery.attempt += 1
            self._spawn(self._settle(delivery, settle, slots))

    async def _settle(
        self, delivery: _Delivery, settle: SettleWork, slots: asyncio.Semaphore
    ) -> None:
        try:
            await settle(delivery)
        except asyncio.CancelledError:
            # The consumer went away before acking: like RabbitMQ, hand the event to another.
            await delivery.requeue()
            raise
        finally:
            slots.release()
