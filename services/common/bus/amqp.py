"""The RabbitMQ bus (aio-pika, robust connection).

Topology, for exchange `mlops.events`:
- `mlops.events`: durable topic exchange; routing key = event type.
- work queue `<queue>`: durable quorum queue bound to its events' types, with a delivery limit and
  dead-lettering to the direct exchange `mlops.events.dead`, routing key `<queue>`,
  which feeds the durable queue `<queue>.dead`. The bus dead-letters a message itself by
  publishing a copy there with its reason in headers (`x-mlops-reason`, `x-mlops-error`), then
  acking it; the broker does so only past the delivery limit (reason read from `x-death`).
- broadcast: one exclusive, auto-delete queue per subscriber, gone when its connection goes.

Everything is declared through robust channels, so aio-pika re-declares queues, bindings and
consumers after the connection comes back (broker restart, network blip). What to do with a
message (decode, retry, dead-letter) is decided in base.py; this module only moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Collection, Coroutine
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
    AbstractRobustQueue,
)
from aio_pika.exceptions import AMQPChannelError, AMQPError, ChannelInvalidStateError
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from services.common.bus.base import Bus, BusUnavailable, SettleWork, Unroutable, WorkMessage
from services.common.bus.dead_letters import DeadLetter, DeadReason, describe
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
        retry_window_s: float = 600.0,
        connect_timeout_s: float = 60.0,
        publish_timeout_s: float = 10.0,
        reconnect_interval_s: float = 2.0,
        ping_timeout_s: float = 3.0,
        heartbeat_s: int = 15,
    ) -> None:
        super().__init__(max_deliveries=max_deliveries, retry_window_s=retry_window_s)
        self.url = url
        self.exchange = exchange
        self.dead_exchange = f"{exchange}.dead"
        self.queue_prefix = queue_prefix
        """Put before every work queue's name, so installations can share one broker."""
        self.connect_timeout_s = connect_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.heartbeat_s = heartbeat_s
        """AMQP heartbeat: a connection silent for about twice this long is dropped and remade."""
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
                await self._publish_until_confirmed(message, event.type, event.queued)
        except (TimeoutError, AMQPError) as exc:
            raise BusUnavailable(
                f"RabbitMQ did not confirm {event.type} within {self.publish_timeout_s:g}s"
            ) from exc

    async def ping(self) -> bool:
        try:
            async with self._plain_channel(timeout_s=self.ping_timeout_s):
                return True
        except (TimeoutError, *_TRANSIENT, AMQPError, BusUnavailable) as exc:
            log.debug("RabbitMQ did not answer a ping: %r", exc)
            return False

    async def _declare_work_queue(self, queue: str, routing_keys: tuple[str, ...]) -> None:
        assert self._channel is not None, "start() the bus first"
        await self._declare_queues(self._channel, self.queue_prefix + queue, routing_keys)

    async def _consume_work(
        self, queue: str, routing_keys: tuple[str, ...], settle: SettleWork, prefetch: int
    ) -> None:
        # Its own channel, so its prefetch limits this consumer only.
        channel, _ = await self._open_channel(prefetch)
        work_queue = await self._declare_queues(channel, self.queue_prefix + queue, routing_keys)
        consumer = _Consumer(self, work_queue, settle)
        await consumer.resume()

    async def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        async with self._plain_channel() as channel:
            # Taken without acking, and so all back in the queue when the channel closes.
            return [_dead_letter(queue, m) async for m in _drain(channel, queue, self, limit)]

    async def _dead_letter_count(self, queue: str) -> int | None:
        return await self.queue_depth(dead_letter_queue(queue))

    async def _settle_dead_letters(
        self, queue: str, ids: Collection[str] | None, *, replay: bool
    ) -> int:
        settled = 0
        async with self._plain_channel(confirms=True) as channel:
            async for message in _drain(channel, queue, self, limit=None):
                if ids is not None and message.header.properties.message_id not in ids:
                    continue  # left unacked: back in the dead letters when the channel closes
                if replay:
                    # Straight into its queue (default exchange): no other queue gets a copy.
                    answer = await channel.basic_publish(
                        message.body,
                        routing_key=self.queue_prefix + queue,
                        properties=_replayed(message.header.properties),
                        mandatory=True,
                    )
                    if isinstance(answer, DeliveredMessage):
                        raise Unroutable(f"the queue {queue} does not exist")
                await channel.basic_ack(_tag(message))
                settled += 1
        return settled

    @contextlib.asynccontextmanager
    async def _plain_channel(
        self, *, confirms: bool = False, timeout_s: float | None = None
    ) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A throwaway channel on the current connection: not restored on reconnect, and one
        that a broker error closes harms nothing else. Raises BusUnavailable when there is no
        connection, TimeoutError when opening it takes longer than `timeout_s`."""
        conn = self._connection
        if conn is None or conn.transport is None or self._closing:
            raise BusUnavailable("not connected to RabbitMQ")
        try:
            async with asyncio.timeout(timeout_s or self.publish_timeout_s):
                channel = await conn.transport.connection.channel(publisher_confirms=confirms)
        except (RuntimeError, *_TRANSIENT, AMQPError) as exc:  # closed under our feet
            raise BusUnavailable(f"RabbitMQ is not reachable: {exc!r}") from exc
        try:
            yield channel
        finally:
            if not channel.is_closed:
                with contextlib.suppress(*_TRANSIENT, AMQPError):
                    await channel.close()

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
        # A plain channel: a robust one answers a passive declare from its cache (stale
        # counts), and a missing queue closes the channel that asked.
        try:
            async with self._plain_channel() as channel, asyncio.timeout(self.publish_timeout_s):
                declared = await channel.queue_declare(self.queue_prefix + queue, passive=True)
        except (TimeoutError, *_TRANSIENT, AMQPError, BusUnavailable) as exc:
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
                    heartbeat=self.heartbeat_s,
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

    async def _publish_until_confirmed(
        self, message: aio_pika.Message, routing_key: str, mandatory: bool
    ) -> None:
        assert self._channel is not None and self._exchange is not None
        while True:
            try:
                await self._channel.ready()  # waits while the robust connection reconnects
                answer = await self._exchange.publish(
                    message, routing_key=routing_key, mandatory=mandatory
                )
                if isinstance(answer, DeliveredMessage):  # returned: no queue would keep it
                    raise Unroutable(f"no queue takes {routing_key} on RabbitMQ")
                return
            except _TRANSIENT as exc:
                # A retry after a lost confirm may publish twice; consumers are idempotent.
                log.info("publish of %s interrupted (%r); retrying", routing_key, exc)
                await asyncio.sleep(0.1)


class _Consumer:
    """One work queue's consumer. While a handler that acked early still runs, it is paused
    (cancelled on the broker), so the broker hands it nothing it could not start."""

    def __init__(self, bus: AmqpBus, queue: AbstractRobustQueue, settle: SettleWork) -> None:
        self._bus, self._queue, self._settle = bus, queue, settle
        self._tag: str | None = None
        self._paused = 0
        self.queue_name, self.dead_exchange = queue.name, bus.dead_exchange

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        if not self._bus._closing:  # else leave it unacked: closing requeues it
            self._bus._spawn(self._handle(_Delivery(message, self)))

    async def _handle(self, delivery: _Delivery) -> None:
        try:
            await self._settle(delivery)
        finally:
            if delivery.paused_consumer:
                self._paused -= 1
                if not self._paused:
                    await self.resume()

    async def pause(self) -> None:
        self._paused += 1
        tag, self._tag = self._tag, None
        if tag is not None:
            await self._queue.cancel(tag)

    async def resume(self) -> None:
        if self._tag is None and not self._paused and not self._bus._closing:
            self._tag = await self._queue.consume(self.on_message)


class _Delivery(WorkMessage):
    """A message from a quorum queue, which counts its redeliveries in `x-delivery-count`."""

    def __init__(self, message: AbstractIncomingMessage, consumer: _Consumer) -> None:
        self._message, self._consumer = message, consumer
        self.body = message.body
        self.paused_consumer = False
        count = (message.headers or {}).get("x-delivery-count")  # set from the 2nd delivery on
        self.attempt = (count if isinstance(count, int) else 0) + 1

    async def ack(self) -> None:
        await _settle(self._message.ack())

    async def ack_early(self) -> None:
        # Stop the consumer first: once acked, the broker would hand over the next message.
        self.paused_consumer = True
        with contextlib.suppress(*_TRANSIENT, AMQPError):
            await self._consumer.pause()
        await self.ack()

    async def requeue(self) -> None:
        await _settle(self._message.nack(requeue=True))

    async def dead_letter(self, reason: DeadReason, error: str) -> None:
        """Keep a copy with its reason in `<queue>.dead`, then ack; if that copy cannot be
        kept, the message is requeued instead (the broker's own limit still applies)."""
        original = self._message
        headers = {
            **(original.headers or {}),
            "x-mlops-reason": reason,
            "x-mlops-error": error[:500],
            "x-mlops-attempts": self.attempt,
            "x-mlops-dead-at": datetime.now(UTC).isoformat(),
        }
        properties = _persistent(
            original.content_type,
            original.message_id,
            original.correlation_id,
            original.type,
            headers,
        )
        try:
            await original.channel.basic_publish(
                original.body,
                exchange=self._consumer.dead_exchange,
                routing_key=self._consumer.queue_name,
                properties=properties,
            )
        except (*_TRANSIENT, AMQPError) as exc:
            log.warning("could not keep a dead letter (%r); requeueing it", exc)
            await self.requeue()
            return
        await self.ack()


async def _drain(
    channel: aiormq.abc.AbstractChannel, queue: str, bus: AmqpBus, limit: int | None
) -> AsyncIterator[DeliveredMessage]:
    """The messages of `queue`'s dead letters, taken one by one without acking; at most those
    there when it began (a replayed message that fails again is not met twice)."""
    name = dead_letter_queue(bus.queue_prefix + queue)
    declared = await channel.queue_declare(name, passive=True)
    count = declared.message_count or 0
    for _ in range(count if limit is None else min(count, limit)):
        message = await channel.basic_get(name, no_ack=False)
        if not isinstance(message.delivery, spec.Basic.GetOk):
            return
        yield message


def _tag(message: DeliveredMessage) -> int:
    return cast(int, cast(spec.Basic.GetOk, message.delivery).delivery_tag)


def _dead_letter(queue: str, message: DeliveredMessage) -> DeadLetter:
    headers = message.header.properties.headers or {}
    reason, attempts = headers.get("x-mlops-reason"), headers.get("x-mlops-attempts")
    if reason is None:  # dead-lettered by the broker itself: past the delivery limit
        reason = "delivery_limit"
    dead_at = headers.get("x-mlops-dead-at")
    return describe(
        queue,
        message.body,
        cast(DeadReason, reason),
        error=str(headers.get("x-mlops-error", "")),
        attempts=attempts if isinstance(attempts, int) else 1,
        dead_at=datetime.fromisoformat(dead_at) if isinstance(dead_at, str) else None,
    )


def _replayed(properties: spec.Basic.Properties) -> spec.Basic.Properties:
    """The original properties, without what the dead-lettering added."""
    headers = {
        k: v
        for k, v in (properties.headers or {}).items()
        if not k.startswith(("x-mlops-", "x-death", "x-first-death", "x-last-death"))
    }
    return _persistent(
        properties.content_type,
        properties.message_id,
        properties.correlation_id,
        properties.message_type,
        headers,
    )


def _persistent(
    content_type: str | None,
    message_id: str | None,
    correlation_id: str | None,
    message_type: str | None,
    headers: dict[str, Any],
) -> spec.Basic.Properties:
    """A persistent message's properties: the event's own, with `headers`."""
    return spec.Basic.Properties(
        content_type=content_type,
        delivery_mode=2,
        message_id=message_id,
        correlation_id=correlation_id,
        message_type=message_type,
        headers=headers,
    )


async def _settle(outcome: Coroutine[Any, Any, None]) -> None:
    """Send an ack / nack / reject; if the channel is gone the broker redelivers anyway."""
    try:
        await outcome
    except (*_TRANSIENT, AMQPError) as exc:
        log.warning("could not settle a message (%r); the broker will redeliver it", exc)
