"""The RabbitMQ bus (aio-pika, robust connection).

Topology, for exchange `mlops.events`:
- `mlops.events`: durable topic exchange; routing key = event type.
- work queue `<queue>`: durable quorum queue bound to its events' types, with a delivery limit and
  dead-lettering to the direct exchange `mlops.events.dead`, routing key `<queue>`,
  which feeds the durable queue `<queue>.dead`.
- broadcast: one exclusive, auto-delete queue per subscriber, gone when its connection goes.

Everything is declared through robust channels, so aio-pika re-declares queues, bindings and
consumers after the connection comes back (broker restart, network blip). What to do with a
message (decode, retry, dead-letter) is decided in base.py; this module only moves it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
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

from services.common.bus.base import Bus, BusUnavailable, SettleWork, WorkMessage
from services.common.events import Event

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
        super().__init__(max_deliveries=max_deliveries)
        self.url = url
        self.exchange = exchange
        self.dead_exchange = f"{exchange}.dead"
        self.queue_prefix = queue_prefix
        """Put before every work queue's name, so installations can share one broker."""
        self.connect_timeout_s = connect_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractRobustExchange | None = None
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
        await self._stop_tasks()
        if self._connection is not None:
            await self._connection.close()

    async def _publish(self, event: Event, body: bytes) -> None:
        if self._exchange is None or self._closing:
            raise BusUnavailable("the RabbitMQ bus is not running")
        message = aio_pika.Message(
            body,
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
                await self._publish_until_confirmed(message, event.type)
        except (TimeoutError, AMQPError) as exc:
            raise BusUnavailable(
                f"RabbitMQ did not confirm {event.type} within {self.publish_timeout_s:g}s"
            ) from exc

    async def _declare_work_queue(self, queue: str, routing_keys: tuple[str, ...]) -> None:
        assert self._channel is not None, "start() the bus first"
        await self._declare_queues(self._channel, self.queue_prefix + queue, routing_keys)

    async def _consume_work(
        self, queue: str, routing_keys: tuple[str, ...], settle: SettleWork, prefetch: int
    ) -> None:
        # Its own channel, so its prefetch limits this consumer only.
        channel, _ = await self._open_channel(prefetch)
        work_queue = await self._declare_queues(channel, self.queue_prefix + queue, routing_keys)

        async def on_message(message: AbstractIncomingMessage) -> None:
            if not self._closing:  # else leave it unacked: closing requeues it
                self._spawn(settle(_Delivery(message)))

        await work_queue.consume(on_message)

    async def _subscribe_broadcast(self, routing_keys: tuple[str, ...]) -> asyncio.Queue[bytes]:
        channel, _ = await self._open_channel()
        # Named by us, not by the server: a robust channel re-declares it by name on reconnect.
        queue = await channel.declare_queue(
            f"{self.exchange}.broadcast.{uuid.uuid4().hex}", exclusive=True, auto_delete=True
        )
        for key in routing_keys:
            await queue.bind(self.exchange, routing_key=key)
        inbox: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(message: AbstractIncomingMessage) -> None:
            inbox.put_nowait(message.body)

        await queue.consume(on_message, no_ack=True)
        return inbox

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

    async def _declare_queues(
        self, channel: AbstractRobustChannel, queue: str, routing_keys: tuple[str, ...]
    ) -> AbstractRobustQueue:
        """The work queue, bound to `routing_keys`, and the dead-letter queue behind it."""
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
        for key in routing_keys:
            await work_queue.bind(self.exchange, routing_key=key)
        return work_queue

    async def _publish_until_confirmed(self, message: aio_pika.Message, routing_key: str) -> None:
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


class _Delivery(WorkMessage):
    """A message from a quorum queue, which counts its redeliveries in `x-delivery-count`."""

    def __init__(self, message: AbstractIncomingMessage) -> None:
        self._message = message
        self.body = message.body
        count = (message.headers or {}).get("x-delivery-count")  # set from the 2nd delivery on
        self.attempt = (count if isinstance(count, int) else 0) + 1

    async def ack(self) -> None:
        await _settle(self._message.ack())

    async def requeue(self) -> None:
        await _settle(self._message.nack(requeue=True))

    async def dead_letter(self, reason: str) -> None:
        # The queue's dead-letter exchange takes it to `<queue>.dead`.
        await _settle(self._message.reject(requeue=False))


async def _settle(outcome: Coroutine[Any, Any, None]) -> None:
    """Send an ack / nack / reject; if the channel is gone the broker redelivers anyway."""
    try:
        await outcome
    except (*_TRANSIENT, AMQPError) as exc:
        log.warning("could not settle a message (%r); the broker will redeliver it", exc)
