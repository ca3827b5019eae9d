"""The bus port, and the delivery policy both implementations share (in-process and RabbitMQ).

Semantics every bus keeps (tests/contract/bus_contract.py checks them):
- `publish` returns once the event is safely handed over (publisher confirm on RabbitMQ);
  it raises `BusUnavailable` when that cannot be done.
- A subscription is typed, as in faststream: the annotation of the handler's first parameter
  (one event class, a union of them, or `Event` for all) says which events it gets, and the
  routing keys are those classes' `type` strings. A handler only ever receives those types.
- An event that must reach a work queue (`Event.queued`) and that no queue takes is a failed
  publish (`Unroutable`), never a silent drop.
- `consume_work(queue, handler)`: a durable, shared work queue. Every matching event goes to ONE
  consumer of that queue. The event is acked only after the handler returns, or earlier when
  the handler calls `ack_early()` (long work whose state another service owns: the consumer then
  takes nothing else until the handler returns). Failures are triaged: a transient one (a
  dependency away: `is_transient`) is retried in place with backoff for `retry_window_s`; a
  deterministic one, `RejectEvent`, a message that is not one of the handler's events, and a
  transient one that outlasts the window are dead-lettered at once, with their reason
  (dead_letters.py). A message delivered `max_deliveries` times (its consumers kept dying) is
  dead-lettered too. Dead letters are kept until replayed into their queue or discarded.
  Events published while no consumer runs wait in the queue (once the queue has been declared
  by a consumer or by `declare_work_queue`).
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
from collections.abc import Awaitable, Callable, Collection, Coroutine
from contextvars import ContextVar
from functools import partial
from typing import Any

from prometheus_client import Counter, Histogram

from services.common.bus.dead_letters import DeadLetter, DeadReason
from services.common.bus.subscription import (
    EventT,
    Handler,
    Subscription,
    encode,
    subscribed_events,
)
from services.common.errors import Unavailable
from services.common.events import Event
from services.common.retrying import patiently

__all__ = [
    "Bus",
    "BusUnavailable",
    "EventT",
    "Handler",
    "RejectEvent",
    "SettleWork",
    "Unroutable",
    "WorkMessage",
    "is_transient",
    "subscribed_events",
]

log = logging.getLogger(__name__)

PUBLISHED = Counter("mlops_bus_events_published_total", "Events the broker took", ["type"])
HANDLED = Counter("mlops_bus_events_handled_total", "Events handled", ["type", "outcome"])
HANDLE_SECONDS = Histogram("mlops_bus_handle_seconds", "Time to handle an event", ["type"])
DEAD_LETTERED = Counter(
    "mlops_bus_dead_lettered_total", "Messages a work queue gave up on", ["queue", "reason"]
)


class BusUnavailable(Exception):
    """The broker cannot take the event right now."""


class Unroutable(BusUnavailable):
    """The broker took the event but no queue would keep it (the queue is missing)."""


class RejectEvent(Exception):
    """Raised by a handler for an event that can never succeed: dead-letter it, do not retry."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: something the handler needs is away for now (the database, the broker,
    the network), not something wrong with the message itself."""
    return isinstance(exc, Unavailable | BusUnavailable | ConnectionError | TimeoutError)


_HANDLING: ContextVar[WorkMessage | None] = ContextVar("handling", default=None)
"""The work message whose handler runs in this task (for `Bus.ack_early`)."""


class WorkMessage(abc.ABC):
    """One delivery from a work queue, as a transport hands it over; the bus settles it once."""

    body: bytes
    attempt: int
    """1 on the first delivery, counting the redeliveries after failures."""
    settled: bool = False
    """Acked early (`Bus.ack_early`): nothing more may be done with it."""

    @abc.abstractmethod
    async def ack(self) -> None: ...

    async def ack_early(self) -> None:
        """Ack before the handler returns; the consumer takes nothing else until it does."""
        await self.ack()

    @abc.abstractmethod
    async def requeue(self) -> None: ...

    @abc.abstractmethod
    async def dead_letter(self, reason: DeadReason, error: str) -> None:
        """Keep the message in the queue's dead letters, saying why (dead_letters.REASONS)."""


SettleWork = Callable[[WorkMessage], Coroutine[Any, Any, None]]
"""What a transport calls for each work message it receives (in a task of its own)."""


class Bus(abc.ABC):
    """The port services use. Subclasses implement the transport hooks at the bottom."""

    max_deliveries: int
    retry_window_s: float
    """How long a transient failure is retried before its event is dead-lettered."""

    def __init__(self, *, max_deliveries: int = 5, retry_window_s: float = 600.0) -> None:
        self.max_deliveries = max_deliveries
        self.retry_window_s = retry_window_s
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

    @abc.abstractmethod
    async def ping(self) -> bool:
        """A round trip to the broker, bounded in time: True if it answered. Unlike
        `connected`, this notices a silent partition (a connection that looks open)."""

    async def publish(self, event: Event) -> None:
        await self._publish(event, encode(event))
        PUBLISHED.labels(event.type).inc()

    async def ack_early(self) -> None:
        """Called by a work handler: ack its event now, before it returns. For work longer
        than the broker allows a message to stay unacked, once its state is owned elsewhere
        (a job's, by the gateway's database). The consumer takes no other event meanwhile.
        Once acked, the event is never retried or dead-lettered, whatever the handler does."""
        message = _HANDLING.get()
        if message is not None and not message.settled:
            await message.ack_early()
            message.settled = True

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The first `limit` messages `queue` gave up on, oldest first; they stay kept."""
        return await self._dead_letters(queue, limit)

    async def dead_letter_count(self, queue: str) -> int | None:
        """How many messages `queue` has given up on and keeps, or None when unknown."""
        return await self._dead_letter_count(queue)

    async def replay_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        """Put `queue`'s dead letters (those with `ids`, or all) back into it; how many."""
        return await self._settle_dead_letters(queue, ids, replay=True)

    async def discard_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        """Drop `queue`'s dead letters (those with `ids`, or all) for good; how many."""
        return await self._settle_dead_letters(queue, ids, replay=False)

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
        if message.attempt > self.max_deliveries:
            await self._give_up(queue, message, "delivery_limit", "delivered too many times")
            return
        try:
            event = subscription.decode(message.body)
        except ValueError as exc:
            await self._give_up(queue, message, "malformed", repr(exc))
            return
        token = _HANDLING.set(message)
        try:
            await self._handle_patiently(queue, subscription, event, message)
        except RejectEvent as exc:
            await self._give_up(queue, message, "rejected", repr(exc))
        except Exception as exc:
            reason: DeadReason = "gave_up" if is_transient(exc) else "failed"
            await self._give_up(queue, message, reason, repr(exc))
        else:
            if not message.settled:
                await message.ack()
        finally:
            _HANDLING.reset(token)

    async def _handle_patiently(
        self, queue: str, subscription: Subscription[Any], event: Event, message: WorkMessage
    ) -> None:
        """Handle the event, retrying transient failures with backoff for the retry window
        (not once the event was acked early: then its handler owns what comes next)."""

        def worth_retrying(exc: BaseException) -> bool:
            return is_transient(exc) and not message.settled

        what = f"handling {event.type} {event.id} from {queue}"
        retrying = patiently(self.retry_window_s, worth_retrying, what)
        async for attempt in retrying:
            with attempt:
                await self._handle(subscription, event)

    async def _give_up(
        self, queue: str, message: WorkMessage, reason: DeadReason, error: str
    ) -> None:
        if message.settled:  # acked early: its handler owns the outcome
            log.warning("a handler on %s failed after acking early: %s", queue, error)
            return
        log.warning(
            "dead-lettering a message from %s (%s, delivery %d): %s",
            queue,
            reason,
            message.attempt,
            error,
        )
        DEAD_LETTERED.labels(queue, reason).inc()
        await message.dead_letter(reason, error)

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

    @abc.abstractmethod
    async def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]: ...

    @abc.abstractmethod
    async def _dead_letter_count(self, queue: str) -> int | None: ...

    @abc.abstractmethod
    async def _settle_dead_letters(
        self, queue: str, ids: Collection[str] | None, *, replay: bool
    ) -> int:
        """Replay (straight into `queue`, not through the exchange: no other queue gets a copy)
        or discard the dead letters with `ids` (all when None); how many."""
