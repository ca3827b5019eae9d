"""The one test suite every `Bus` implementation must pass (see services/common/bus/base.py).

Subclass `BusContract` in a `Test*` class and provide the `bus_factory` fixture plus the two
broker-specific helpers. Buses made by one factory within a test share a broker (and an
exchange), so two of them model two replicas of a service. Subscriptions are typed: a handler
gets the events its first parameter is annotated with (`Recorder.job`: TrainingRequested,
`Recorder.deployment`: ModelDeployed, the `Recorder` itself: every Event).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import pytest

from services.common.bus import Bus, BusUnavailable, RejectEvent, Unroutable
from services.common.errors import Unavailable
from services.common.events import (
    EVENT_TYPES,
    Event,
    ModelDeployed,
    TrainingCancelled,
    TrainingFailed,
    TrainingRequested,
    TrainingStarted,
)
from tests.support import eventually, metrics_sampled, training_requested

MAX_DELIVERIES = 3
"""Every factory must make buses with this `max_deliveries`."""


class BusFactory(Protocol):
    async def __call__(self, **overrides: Any) -> Bus: ...


class QueueNames:
    """Unique queue names for one test; remembers them so the test can delete them."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.created: list[str] = []

    def __call__(self, base: str) -> str:
        name = f"{base}.{self.suffix}"
        self.created.append(name)
        return name


class Recorder:
    """A handler of every event that records what it gets; its methods are narrower handlers."""

    def __init__(self, fail_times: int = 0, error: type[Exception] = RuntimeError) -> None:
        self.events: list[Event] = []
        self.fail_times = fail_times
        self.error = error

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        if len(self.events) <= self.fail_times:
            raise self.error(f"planned failure {len(self.events)}")

    async def job(self, event: TrainingRequested) -> None:
        await self(event)

    async def deployment(self, event: ModelDeployed) -> None:
        await self(event)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]


class BusContract:
    """Behaviour every bus keeps; the subclass supplies the broker."""

    @pytest.fixture
    def queues(self, unique: str) -> QueueNames:
        return QueueNames(unique)

    @pytest.fixture
    def bus_factory(self) -> BusFactory:
        """Async callable returning a started bus (`max_deliveries=MAX_DELIVERIES`)."""
        raise NotImplementedError

    async def dead_letter_count(self, bus: Bus, queue: str) -> int:
        """How many messages `queue` has dead-lettered so far."""
        raise NotImplementedError

    async def publish_raw(self, bus: Bus, routing_key: str, body: bytes) -> None:
        """Put arbitrary bytes on the bus, bypassing `Bus.publish` (to model a bad producer)."""
        raise NotImplementedError

    async def test_work_consumer_receives_the_typed_event_intact(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        got = Recorder()
        await bus.consume_work(queues("jobs"), got.job)
        sent = training_requested()
        await bus.publish(sent)
        await eventually(lambda: len(got.events) == 1)
        assert type(got.events[0]) is TrainingRequested
        assert got.events[0] == sent  # id, version, occurred_at, correlation_id and payload

    async def test_each_event_goes_to_exactly_one_competing_consumer(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        queue = queues("jobs")
        replicas = [await bus_factory(), await bus_factory()]
        recorders = [Recorder(), Recorder()]

        for bus, recorder in zip(replicas, recorders, strict=True):

            async def slow(event: TrainingRequested, recorder: Recorder = recorder) -> None:
                await asyncio.sleep(0.02)  # keeps one consumer busy so the other gets a turn
                await recorder(event)

            await bus.consume_work(queue, slow)
        sent = [training_requested(n) for n in range(10)]
        for event in sent:
            await replicas[0].publish(event)

        await eventually(lambda: sum(len(r.events) for r in recorders) >= len(sent))
        received = recorders[0].ids + recorders[1].ids
        assert sorted(received) == sorted(e.id for e in sent)  # each once, none twice
        assert recorders[0].events and recorders[1].events

    async def test_events_wait_in_a_declared_queue_until_a_consumer_starts(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        await bus.declare_work_queue(queue, TrainingRequested)
        sent = [training_requested(n) for n in range(3)]
        for event in sent:
            await bus.publish(event)
        await eventually(lambda: _equals(bus.queue_depth(queue), 3))

        got = Recorder()
        await bus.consume_work(queue, got.job)
        await eventually(lambda: len(got.events) == 3)
        assert got.ids == [e.id for e in sent]
        await eventually(lambda: _equals(bus.queue_depth(queue), 0))

    async def test_queue_depth_of_an_unknown_queue_is_none(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        assert await bus.queue_depth(queues("never-declared")) is None

    async def test_prefetch_limits_concurrent_handlers_per_consumer(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        running, peak, release = 0, 0, asyncio.Event()

        async def blocking(event: TrainingRequested) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

        await bus.consume_work(queue, blocking, prefetch=2)
        for n in range(5):
            await bus.publish(training_requested(n))
        await eventually(lambda: _equals(bus.queue_depth(queue), 3))
        await asyncio.sleep(0.1)  # a short settle: would a third handler start?
        assert (running, peak) == (2, 2)
        release.set()
        await eventually(lambda: _equals(bus.queue_depth(queue), 0))
        await eventually(lambda: running == 0)

    async def test_a_transient_failure_is_retried_until_it_passes(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        got = Recorder(fail_times=2, error=ConnectionError)  # e.g. the database is away
        await bus.consume_work(queue, got.job)
        sent = training_requested()
        await bus.publish(sent)
        await eventually(lambda: len(got.events) == 3)
        assert got.ids == [sent.id] * 3
        await eventually(lambda: _equals(bus.queue_depth(queue), 0))
        assert await self.dead_letter_count(bus, queue) == 0

    async def test_an_unavailable_dependency_is_retried_too(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        got = Recorder(fail_times=1, error=Unavailable)
        await bus.consume_work(queue, got.job)
        sent = training_requested()
        await bus.publish(sent)
        await eventually(lambda: len(got.events) == 2)
        assert got.ids == [sent.id, sent.id]
        await eventually(lambda: _equals(bus.queue_depth(queue), 0))
        assert await self.dead_letter_count(bus, queue) == 0

    async def test_reject_event_dead_letters_at_once(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        got = Recorder(fail_times=99, error=RejectEvent)
        await bus.consume_work(queue, got.job)
        await bus.publish(training_requested())
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 1))
        assert len(got.events) == 1

    async def test_a_deterministic_failure_is_dead_lettered_once_with_its_reason(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        got = Recorder(fail_times=99, error=ValueError)
        await bus.consume_work(queue, got.job)
        await bus.publish(sent := training_requested())
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 1))
        assert len(got.events) == 1  # not retried: it would fail the same way
        [letter] = await bus.dead_letters(queue)
        assert (letter.id, letter.type, letter.reason) == (sent.id, sent.type, "failed")
        assert letter.correlation_id == sent.correlation_id
        assert "planned failure" in letter.error and letter.explanation

    async def test_a_transient_failure_past_the_retry_window_is_dead_lettered(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory(retry_window_s=0.5)
        queue = queues("jobs")
        got = Recorder(fail_times=999, error=ConnectionError)
        await bus.consume_work(queue, got.job)
        await bus.publish(training_requested())
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 1))
        assert len(got.events) > 1
        [letter] = await bus.dead_letters(queue)
        assert letter.reason == "gave_up"

    async def test_dead_letters_can_be_replayed_into_their_queue_or_discarded(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        got = Recorder(fail_times=3, error=ValueError)
        await bus.consume_work(queue, got.job)
        sent = [training_requested(n) for n in range(3)]
        for event in sent:
            await bus.publish(event)
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 3))
        listed = await bus.dead_letters(queue)
        assert sorted(d.id for d in listed) == sorted(e.id for e in sent)
        # Listing keeps them (a quorum queue counts returned messages a moment later).
        await eventually(lambda: _equals(bus.dead_letter_count(queue), 3))

        assert await bus.replay_dead_letters(queue, [sent[0].id]) == 1
        await eventually(lambda: len(got.events) == 4)  # handled again, and this time it passes
        assert got.ids[-1] == sent[0].id
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 2))
        assert await bus.discard_dead_letters(queue) == 2
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 0))
        assert await bus.replay_dead_letters(queue) == 0

    async def test_an_event_acked_early_is_never_redelivered_and_holds_the_consumer(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        started: list[str] = []
        release = asyncio.Event()

        async def long_work(event: TrainingRequested) -> None:
            started.append(event.id)
            await bus.ack_early()
            await release.wait()
            raise ValueError("failed after acking early")  # the handler owns its outcome now

        await bus.consume_work(queue, long_work, prefetch=1)
        sent = [training_requested(n) for n in range(2)]
        for event in sent:
            await bus.publish(event)
        await eventually(lambda: started == [sent[0].id])
        await eventually(lambda: _equals(bus.queue_depth(queue), 1))
        await asyncio.sleep(0.2)  # a short settle: the second must wait for the first to end
        assert started == [sent[0].id]
        release.set()
        await eventually(lambda: started == [sent[0].id, sent[1].id])
        await eventually(lambda: _equals(bus.queue_depth(queue), 0))
        assert await self.dead_letter_count(bus, queue) == 0

    async def test_an_event_that_must_be_queued_is_refused_when_no_queue_takes_it(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        assert TrainingRequested.queued and not ModelDeployed.queued
        with pytest.raises(Unroutable):
            await bus.publish(training_requested())
        await bus.publish(ModelDeployed(model_id="m", model_path="models/m"))  # broadcast: fine
        await bus.declare_work_queue(queues("jobs"), TrainingRequested)
        await bus.publish(training_requested())

    async def test_a_ping_is_answered_while_running(self, bus_factory: BusFactory) -> None:
        bus = await bus_factory()
        assert await bus.ping()
        await bus.close()
        assert not await bus.ping()

    async def test_a_malformed_message_is_dead_lettered_and_consuming_goes_on(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("jobs")
        got = Recorder()
        await bus.consume_work(queue, got.job)
        key = TrainingRequested.type
        await self.publish_raw(bus, key, b"{not json")
        await self.publish_raw(bus, key, b"[]")
        await self.publish_raw(bus, key, b'{"type": "training.requested"}')
        await self.publish_raw(bus, key, b'{"type": "training.unheard_of"}')
        # A valid event, but not one this handler takes: it never sees it.
        await self.publish_raw(bus, key, _body(TrainingFailed(job_id="j", error="boom")))
        await bus.publish(sent := training_requested())
        await eventually(lambda: _equals(self.dead_letter_count(bus, queue), 5))
        await eventually(lambda: got.ids == [sent.id])

    async def test_every_broadcast_subscriber_gets_every_event(
        self, bus_factory: BusFactory
    ) -> None:
        replicas = [await bus_factory(), await bus_factory()]
        recorders = [Recorder(), Recorder()]
        for bus, recorder in zip(replicas, recorders, strict=True):
            await bus.consume_broadcast(recorder.deployment)
        sent = [ModelDeployed(model_id=f"m{n}", model_path=f"models/m{n}") for n in range(5)]
        for event in sent:
            await replicas[0].publish(event)
        await eventually(lambda: all(len(r.events) == len(sent) for r in recorders))
        assert recorders[0].events == recorders[1].events == sent  # in order, intact

    async def test_a_failing_broadcast_handler_still_gets_the_next_event(
        self, bus_factory: BusFactory
    ) -> None:
        bus = await bus_factory()
        got = Recorder(fail_times=1)
        await bus.consume_broadcast(got.deployment)
        sent = [ModelDeployed(model_id=f"m{n}", model_path=f"models/m{n}") for n in range(2)]
        for event in sent:
            await bus.publish(event)
        await eventually(lambda: got.events == sent)

    async def test_a_broadcast_handler_never_sees_a_type_it_did_not_ask_for(
        self, bus_factory: BusFactory
    ) -> None:
        bus = await bus_factory()
        got = Recorder()
        await bus.consume_broadcast(got.deployment)
        await self.publish_raw(
            bus, ModelDeployed.type, _body(TrainingFailed(job_id="j", error="x"))
        )
        await self.publish_raw(bus, ModelDeployed.type, b"{not json")
        await bus.publish(sent := ModelDeployed(model_id="m", model_path="models/m"))
        await eventually(lambda: got.events == [sent])  # copies come in order: the others are gone

    async def test_each_handler_gets_the_types_it_is_annotated_with(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        jobs, deployments = Recorder(), Recorder()
        await bus.consume_work(queues("jobs"), jobs.job)
        await bus.consume_broadcast(deployments.deployment)
        await _publish_one_of_each(bus, queues)
        await eventually(lambda: jobs.types == [TrainingRequested.type])
        await eventually(lambda: deployments.types == [ModelDeployed.type])
        await asyncio.sleep(0.1)  # a short settle: nothing else may arrive
        assert jobs.types == [TrainingRequested.type]
        assert deployments.types == [ModelDeployed.type]

    async def test_a_union_typed_handler_gets_both_types_and_nothing_else(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        work, broadcast = Recorder(), Recorder()

        async def on_work(event: TrainingFailed | TrainingCancelled) -> None:
            await work(event)

        async def on_broadcast(event: TrainingFailed | TrainingCancelled) -> None:
            await broadcast(event)

        await bus.consume_work(queues("ends"), on_work)
        await bus.consume_broadcast(on_broadcast)
        await _publish_one_of_each(bus, queues)
        ends = {TrainingFailed.type, TrainingCancelled.type}
        await eventually(lambda: set(work.types) == ends and set(broadcast.types) == ends)
        await asyncio.sleep(0.1)  # a short settle: nothing else may arrive
        assert sorted(work.types) == sorted(broadcast.types) == sorted(ends)

    async def test_an_event_typed_handler_gets_every_event(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        work, broadcast = Recorder(), Recorder()
        await bus.consume_work(queues("all"), work)
        await bus.consume_broadcast(broadcast)
        sent = await _publish_one_of_each(bus, queues)
        await eventually(lambda: len(work.events) == len(broadcast.events) == len(sent))
        assert sorted(work.ids) == sorted(e.id for e in sent)
        assert broadcast.events == sent

    async def test_a_handler_without_an_event_annotation_is_refused(
        self, bus_factory: BusFactory, queues: QueueNames
    ) -> None:
        bus = await bus_factory()
        queue = queues("refused")

        async def unannotated(event):  # type: ignore[no-untyped-def]
            pass

        async def not_an_event(event: str) -> None:
            pass

        handlers: list[Callable[..., Awaitable[None]]] = [unannotated, not_an_event]
        for handler in handlers:
            with pytest.raises(TypeError, match="annotat"):
                await bus.consume_work(queue, handler)
            with pytest.raises(TypeError, match="annotat"):
                await bus.consume_broadcast(handler)
        with pytest.raises(Unroutable):  # nothing was subscribed: no queue keeps the event
            await bus.publish(training_requested())

    async def test_a_closed_bus_refuses_to_publish(self, bus_factory: BusFactory) -> None:
        bus = await bus_factory()
        assert bus.connected
        await bus.close()
        assert not bus.connected
        with pytest.raises(BusUnavailable):
            await bus.publish(training_requested())


async def _equals(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


async def _publish_one_of_each(bus: Bus, queues: QueueNames) -> list[Event]:
    """Publish a handful of different event types, in this order (a sink queue keeps those
    that must be queued, whatever the test consumes)."""
    sent: list[Event] = [
        training_requested(),
        TrainingStarted(job_id="j", worker="w"),
        TrainingFailed(job_id="j", error="boom"),
        TrainingCancelled(job_id="j"),
        ModelDeployed(model_id="m", model_path="models/m"),
        metrics_sampled(),
    ]
    assert len({e.type for e in sent}) == len(sent) and all(e.type in EVENT_TYPES for e in sent)
    await bus.declare_work_queue(queues("sink"), *(type(e) for e in sent if e.queued))
    for event in sent:
        await bus.publish(event)
    return sent


def _body(event: Event) -> bytes:
    return json.dumps(event.to_message()).encode()
