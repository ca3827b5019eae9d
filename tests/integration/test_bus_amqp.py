"""The RabbitMQ bus against the bus contract, plus crash and reconnect behaviour."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from services.common.bus import AmqpBus, Bus, BusUnavailable
from services.common.bus.amqp import dead_letter_queue
from services.common.events import Event, TrainingRequested
from tests.contract.bus_contract import (
    MAX_DELIVERIES,
    BusContract,
    BusFactory,
    QueueNames,
    Recorder,
)
from tests.support import BrokerProxy, eventually, training_requested

pytestmark = pytest.mark.integration


@pytest.fixture
def exchange(unique: str) -> str:
    return f"test.events.{unique}"


class TestAmqpBus(BusContract):
    @pytest.fixture
    async def bus_factory(
        self, amqp_url: str, exchange: str, queues: QueueNames
    ) -> AsyncIterator[BusFactory]:
        buses: list[AmqpBus] = []

        async def make(**overrides: Any) -> Bus:
            settings = {"exchange": exchange, "max_deliveries": MAX_DELIVERIES, **overrides}
            bus = AmqpBus(amqp_url, **settings)
            await bus.start()
            buses.append(bus)
            return bus

        yield make
        for bus in buses:
            await bus.close()
        await _delete_topology(amqp_url, exchange, queues.created)

    async def dead_letter_count(self, bus: Bus, queue: str) -> int:
        return await bus.queue_depth(dead_letter_queue(queue)) or 0

    async def publish_raw(self, bus: Bus, routing_key: str, body: bytes) -> None:
        assert isinstance(bus, AmqpBus)
        async with await aio_pika.connect(bus.url) as connection:
            channel = await connection.channel()
            target = await channel.get_exchange(bus.exchange)
            await target.publish(aio_pika.Message(body), routing_key=routing_key)

    async def test_a_job_held_by_a_killed_consumer_goes_to_another(
        self, bus_factory: BusFactory, queues: QueueNames, amqp_url: str, exchange: str
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        await bus.declare_work_queue(queue, TrainingRequested)
        doomed = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HANGING_CONSUMER, amqp_url, exchange, queue, str(MAX_DELIVERIES),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert await _line(doomed) == "ready"
            await bus.publish(sent := training_requested())
            assert await _line(doomed) == f"handling {sent.id}"
            doomed.send_signal(signal.SIGKILL)  # like the OOM killer: no goodbye to the broker
            await doomed.wait()
        finally:
            if doomed.returncode is None:
                doomed.kill()
                await doomed.wait()
        got = Recorder()
        await bus.consume_work(queue, got.job)
        await eventually(lambda: got.ids == [sent.id], within=10)

    async def test_a_broker_outage_is_survived(
        self, amqp_url: str, exchange: str, queues: QueueNames
    ) -> None:
        proxy = BrokerProxy(amqp_url)  # a broker we can switch off and on
        bus = AmqpBus(
            proxy.url,
            exchange=exchange,
            max_deliveries=MAX_DELIVERIES,
            connect_timeout_s=10,
            publish_timeout_s=0.5,
            reconnect_interval_s=0.1,
        )
        try:
            starting = asyncio.create_task(bus.start())
            await asyncio.sleep(0.3)  # the broker is not up yet: start() keeps trying
            assert not starting.done()
            await proxy.up()
            await asyncio.wait_for(starting, 10)
            work, broadcast = Recorder(), Recorder()
            await bus.consume_work(queues("jobs"), work.job)
            await bus.consume_broadcast(broadcast.job)

            await proxy.down()
            await eventually(lambda: not bus.connected)
            with pytest.raises(BusUnavailable):
                await bus.publish(training_requested())

            await proxy.up()
            sent: list[Event] = []

            async def broadcast_is_back() -> bool:
                # Channels are restored one by one, and a broadcast queue keeps nothing for a
                # subscriber that is not back yet: publish until one copy arrives.
                sent.append(training_requested(len(sent)))
                await bus.publish(sent[-1])  # waits while the connection is restored
                return bool(broadcast.events)

            await eventually(broadcast_is_back, within=10)
            # The durable work queue lost nothing and its consumer is back.
            await eventually(lambda: work.ids == [e.id for e in sent])
            assert bus.connected
        finally:
            await bus.close()
            await proxy.down()
            await _delete_topology(amqp_url, exchange, queues.created)

    async def test_start_gives_up_after_connect_timeout(self) -> None:
        proxy = BrokerProxy("amqp://guest:guest@127.0.0.1:5672/")  # never switched on
        bus = AmqpBus(proxy.url, connect_timeout_s=0.5)
        with pytest.raises(BusUnavailable):
            await bus.start()
        await bus.close()


_HANGING_CONSUMER = """
import asyncio, sys
from services.common.bus.amqp import AmqpBus
from services.common.events import TrainingRequested

async def main(url, exchange, queue, max_deliveries):
    bus = AmqpBus(url, exchange=exchange, max_deliveries=int(max_deliveries))
    await bus.start()

    async def hang(event: TrainingRequested) -> None:
        print("handling", event.id, flush=True)
        await asyncio.Event().wait()

    await bus.consume_work(queue, hang)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()


async def _delete_topology(url: str, exchange: str, queues: list[str]) -> None:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
            await channel.queue_delete(dead_letter_queue(queue))
        await channel.exchange_delete(exchange)
        await channel.exchange_delete(f"{exchange}.dead")
