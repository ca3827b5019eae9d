"""The in-process bus against the bus contract, plus what only it promises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.bus import AmqpBus, Bus, MemoryBus, create_bus, subscribed_events
from services.common.bus.memory import MemoryBroker
from services.common.events import (
    EVENT_TYPES,
    Event,
    ModelDeployed,
    TrainingFailed,
    TrainingRequested,
)
from tests.contract.bus_contract import (
    MAX_DELIVERIES,
    BusContract,
    BusFactory,
    Recorder,
)
from tests.support import eventually, training_requested


class TestMemoryBus(BusContract):
    @pytest.fixture
    async def bus_factory(self) -> AsyncIterator[BusFactory]:
        broker = MemoryBroker()  # one broker, many replicas
        buses: list[MemoryBus] = []

        async def make(**overrides: Any) -> Bus:
            bus = MemoryBus(broker, **{"max_deliveries": MAX_DELIVERIES, **overrides})
            await bus.start()
            buses.append(bus)
            return bus

        yield make
        for bus in buses:
            await bus.close()

    async def dead_letter_count(self, bus: Bus, queue: str) -> int:
        assert isinstance(bus, MemoryBus)
        return await bus.dead_letter_count(queue) or 0

    async def publish_raw(self, bus: Bus, routing_key: str, body: bytes) -> None:
        assert isinstance(bus, MemoryBus)
        bus.broker.route(routing_key, body)


async def test_publish_never_runs_a_handler_inline() -> None:
    bus = MemoryBus()
    await bus.start()
    got = Recorder()
    await bus.consume_work("jobs", got.job)
    await bus.consume_broadcast(got.job)
    await bus.publish(training_requested())
    assert got.events == []  # publish only enqueued
    await eventually(lambda: len(got.events) == 2)
    await bus.close()


async def test_dead_letters_say_why_and_after_how_many_attempts() -> None:
    bus = MemoryBus(max_deliveries=2, retry_window_s=0.3)
    await bus.start()
    await bus.consume_work("jobs", Recorder(fail_times=99, error=ConnectionError).job)
    await bus.publish(training_requested())
    await eventually(lambda: len(bus.all_dead_letters) == 1)
    letter = bus.all_dead_letters[0]
    assert (letter.queue, letter.reason, letter.attempts) == ("jobs", "gave_up", 1)
    await bus.close()


async def test_an_event_interrupted_by_close_goes_to_another_replica() -> None:
    first = MemoryBus()
    second = MemoryBus(first.broker)  # a replica on the same broker
    await first.start()
    await second.start()
    started = asyncio.Event()

    async def hangs(event: TrainingRequested) -> None:
        started.set()
        await asyncio.Event().wait()

    await first.consume_work("jobs", hangs)
    await first.publish(sent := training_requested())
    await asyncio.wait_for(started.wait(), 5)
    await first.close()  # the replica dies mid-handler
    got = Recorder()
    await second.consume_work("jobs", got.job)
    await eventually(lambda: got.ids == [sent.id])
    await second.close()


def test_create_bus_picks_the_implementation_from_the_url() -> None:
    assert isinstance(create_bus("memory://"), MemoryBus)
    bus = create_bus("amqp://guest:guest@localhost:5672/", namespace="shop")
    assert isinstance(bus, AmqpBus) and bus.exchange == "shop.events"
    assert bus.queue_prefix == "shop."
    with pytest.raises(ValueError):
        create_bus("redis://localhost")


class Handlers:
    """Handlers as bound methods and as a callable object, as services write them."""

    async def on_job(self, event: TrainingRequested) -> None: ...

    async def on_end(self, event: TrainingFailed | ModelDeployed) -> None: ...

    async def __call__(self, event: Event) -> None: ...


async def optional(event: TrainingRequested | None) -> None: ...


async def not_imported(event: Unheard) -> None:  # type: ignore[name-defined]  # noqa: F821
    ...


async def no_parameter() -> None: ...


def test_the_annotation_of_the_first_parameter_is_the_subscription() -> None:
    handlers = Handlers()
    assert subscribed_events(handlers.on_job) == (TrainingRequested,)
    assert subscribed_events(handlers.on_end) == (TrainingFailed, ModelDeployed)
    assert subscribed_events(handlers) == tuple(EVENT_TYPES.values())


@pytest.mark.parametrize("handler", [optional, not_imported, no_parameter])
def test_a_handler_that_names_no_event_class_is_refused(handler: Any) -> None:
    with pytest.raises(TypeError, match=handler.__name__):
        subscribed_events(handler)
