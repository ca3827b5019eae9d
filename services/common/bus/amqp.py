"""The RabbitMQ bus (aio-pika, robust connection).

Topology, for exchange `mlops.events`:
- `mlops.events`: durable topic exchange; routing key = event type.
- work queue `<queue>`: durable quorum queue bound to its patterns, with a delivery limit and
  dead-lettering to the direct exchange `mlops.events.dead`, routing key `<queue>`,
  which feeds the durable queue `<queue>.dead`.
- broadcast: one exclusive, auto-delete queue per subscriber, gone when its connection goes.

Everything is declared through robust channels, so aio-pika re-declares queues, bindings and
consumers after the connection comes back (broker restart, network blip).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
    AbstractRobustQueue,
)
from aio_pika.exceptions import AMQPChannelError, AMQPError, ChannelInvalidStateError

from services.common.bus.base import (
    PUBLISHED,
    Bus,
    BusUnavailable,
    Handler,
    RejectEvent,
    measured,
)
from services.common.events import Event, parse_event

log = logging.getLogger(__name__)

# Failures a robust connection recovers from by itself: publishing waits and retries.
_TRANSIENT = (OSError, AMQPChannelError, ChannelInvalidStateError)


def dead_letter_queue(queue: str) -> str:
    """Name of the queue that keeps what `queue` dead-lettered."""
    return f"{queue}.dead"


class AmqpBus(Bus):
    """`Bus` on RabbitMQ. Nothing connects until `start()`."""

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "mlops.events",
        queue_prefix: str = "",
        max_deliveries: int = 5,
        connect_timeout_s: float = 60.0,
        publish_timeout_s: float = 10.0,
        reconnect_interval_s: float = 2.0,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.dead_exchange = f"{exchange}.dead"
        self.queue_prefix = queue_prefix
        """Put before every work queue's name, so installations can share one broker."""
        self.max_deliveries = max_deliveries
        self.connect_timeout_s = connect_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractRobustExchange | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def connected(self) -> bool:
        conn = self._connection
        return conn is not None and not self._closing and conn.connected.is_set()

    async def start(self) -> None:
        """Connect (retrying until `connect_timeout_s`), then declare the exchanges."""
        self._connection = await self._connect()
        self._channel, self._exchange = await self._open_channel()

    async def close(self) -> None:
        """Stop handlers and disconnect; unacked messages go back to their queues."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a handler that ignores its cancellation must not block shutdown
            await asyncio.wait(tasks, timeout=10)
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, event: Event) -> None:
        if self._exchange is None or self._closing:
            raise BusUnavailable("the RabbitMQ bus is not running")
        message = aio_pika.Message(
            json.dumps(event.to_message()).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            correlation_id=event.correlation_id,
            type=event.type,
        )
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the publish completes, and the caller would never stop.
            async with asyncio.timeout(self.publish_timeout_s):
                await self._publish(message, event.type)
        except (TimeoutError, AMQPError) as exc:
            raise BusUnavailable(
                f"RabbitMQ did not confirm {event.type} within {self.publish_timeout_s:g}s"
            ) from exc
        PUBLISHED.labels(event.type).inc()

    async def declare_work_queue(self, queue: str, patterns: Sequence[str]) -> None:
        assert self._channel is not None, "start() the bus first"
        await self._declare_work_queue(self._channel, self.queue_prefix + queue, patterns)

    async def consume_work(
        self, queue: str, patterns: Sequence[str], handler: Handler, prefetch: int = 1
    ) -> None:
        handler = measured(handler)
        # Its own channel, so its prefetch limits this consumer only.
        channel, _ = await self._open_channel(prefetch)
        work_queue = await self._declare_work_queue(channel, self.queue_prefix + queue, patterns)

        async def on_message(message: AbstractIncomingMessage) -> None:
            if not self._closing:  # else leave it unacked: closing requeues it
                self._spawn(self._handle_work(message, handler))

        await work_queue.consume(on_message)

    async def consume_broadcast(self, patterns: Sequence[str], handler: Handler) -> None:
        handler = measured(handler)
        channel, _ = await self._open_channel()
        # Named by us, not by the server: a robust channel re-declares it by name on reconnect.
        queue = await channel.declare_queue(
            f"{self.exchange}.broadcast.{uuid.uuid4().hex}", exclusive=True, auto_delete=True
        )
        for pattern in patterns:
            await queue.bind(self.exchange, routing_key=pattern)
        # One task per subscriber keeps events in order; a slow one only delays itself.
        inbox: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(message: AbstractIncomingMessage) -> None:
            inbox.put_nowait(message.body)

        await queue.consume(on_message, no_ack=True)
        self._spawn(self._dispatch_broadcast(inbox, handler))

    async def queue_depth(self, queue: str) -> int | None:
        # A throwaway plain channel: a robust one answers a passive declare from its cache
        # (stale counts), and a missing queue closes the channel that asked.
        conn = self._connection
        if conn is None or conn.transport is None:
            return None
        try:
            async with asyncio.timeout(self.publish_timeout_s):
                channel = await conn.transport.connection.channel(publisher_confirms=False)
                try:
                    declared = await channel.queue_declare(self.queue_prefix + queue, passive=True)
                finally:
                    if not channel.is_closed:
                        await channel.close()
        except (TimeoutError, *_TRANSIENT, AMQPError) as exc:
            log.debug("queue depth of %s unknown: %r", queue, exc)
            return None
        return declared.message_count

    async def _connect(self) -> AbstractRobustConnection:
        # "Container ready" is not "broker accepts connections": retry the first connect.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        delay = 0.25
        while True:
            remaining = deadline - loop.time()
            try:
                return await aio_pika.connect_robust(
                    self.url,
                    timeout=max(remaining, 1.0),
                    reconnect_interval=self.reconnect_interval_s,
                )
            except (TimeoutError, OSError, AMQPError) as exc:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise BusUnavailable(
                        f"RabbitMQ did not accept a connection within {self.connect_timeout_s:g}s"
                        f": {exc!r}"
                    ) from exc
                log.warning("RabbitMQ not reachable yet (%r); retrying in %.2gs", exc, delay)
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, 5.0)

    async def _open_channel(
        self, prefetch: int = 0
    ) -> tuple[AbstractRobustChannel, AbstractRobustExchange]:
        """A confirming channel with both exchanges declared (and so restored) through it."""
        assert self._connection is not None, "start() the bus first"
        channel = await self._connection.channel(publisher_confirms=True)
        if prefetch:
            await channel.set_qos(prefetch_count=prefetch)
        exchange = await channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_exchange(
            self.dead_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        return channel, exchange

    async def _declare_work_queue(
        self, channel: AbstractRobustChannel, queue: str, patterns: Sequence[str]
    ) -> AbstractRobustQueue:
        dead = await channel.declare_queue(
            dead_letter_queue(queue), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(self.dead_exchange, routing_key=queue)
        work_queue = await channel.declare_queue(
            queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                # The limit counts returns, not deliveries: limit N allows N + 1 attempts.
                "x-delivery-limit": max(self.max_deliveries - 1, 0),
                "x-dead-letter-exchange": self.dead_exchange,
                "x-dead-letter-routing-key": queue,
            },
        )
        for pattern in patterns:
            await work_queue.bind(self.exchange, routing_key=pattern)
        return work_queue

    async def _publish(self, message: aio_pika.Message, routing_key: str) -> None:
        assert self._channel is not None and self._exchange is not None
        while True:
            try:
                await self._channel.ready()  # waits while the robust connection reconnects
                await self._exchange.publish(message, routing_key=routing_key, mandatory=False)
                return
            except _TRANSIENT as exc:
                # A retry after a lost confirm may publish twice; consumers are idempotent.
                log.info("publish of %s interrupted (%r); retrying", routing_key, exc)
                await asyncio.sleep(0.1)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Handlers run in tasks the bus owns: a long one (training) never blocks the connection,
        # survives a reconnect, and close() can cancel it.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_work(self, message: AbstractIncomingMessage, handler: Handler) -> None:
        count = (message.headers or {}).get("x-delivery-count")  # quorum queues, from 2nd try
        attempt = (count if isinstance(count, int) else 0) + 1
        try:
            event = _decode(message.body)
        except ValueError as exc:
            log.warning("dead-lettering malformed message %s: %r", message.message_id, exc)
            await _settle(message.reject(requeue=False))
            return
        try:
            await handler(event)
        except RejectEvent as exc:
            log.warning("dead-lettering %s %s: %r", event.type, event.id, exc)
            await _settle(message.reject(requeue=False))
        except Exception as exc:
            if attempt >= self.max_deliveries:
                log.error(
                    "dead-lettering %s %s after %d attempts: %r", event.type, event.id, attempt, exc
                )
                await _settle(message.reject(requeue=False))
            else:
                log.warning(
                    "handler failed on %s %s (attempt %d of %d), redelivering: %r",
                    event.type,
                    event.id,
                    attempt,
                    self.max_deliveries,
                    exc,
                )
                await _settle(message.nack(requeue=True))
        else:
            await _settle(message.ack())

    async def _dispatch_broadcast(self, inbox: asyncio.Queue[bytes], handler: Handler) -> None:
        while True:
            body = await inbox.get()
            try:
                await handler(_decode(body))
            except Exception:
                # Broadcast copies are not retried; the next event still comes.
                log.exception("broadcast handler failed")


async def _settle(outcome: Coroutine[Any, Any, None]) -> None:
    """Send an ack / nack / reject; if the channel is gone the broker redelivers anyway."""
    try:
        await outcome
    except (*_TRANSIENT, AMQPError) as exc:
        log.warning("could not settle a message (%r); the broker will redeliver it", exc)


def _decode(body: bytes) -> Event:
    """Parse a message body into its typed event; ValueError when it is not one."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("message body is not a JSON object")
    return parse_event(message)
