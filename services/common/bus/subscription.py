"""Typed subscriptions, as in faststream: the handler's annotation says which events it gets.

`async def on_requested(self, event: TrainingRequested)` subscribes to `training.requested`;
`event: TrainingFailed | TrainingCancelled` to both; `event: Event` to every event type. Reading
the subscription from the annotation keeps the routing keys and the handler's type from ever
disagreeing, and lets mypy check the handler where it is subscribed.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from services.common.events import EVENT_TYPES, Event, parse_event

EventT = TypeVar("EventT", bound=Event)
Handler = Callable[[EventT], Awaitable[None]]
"""An async function of one event; its parameter's annotation is its subscription."""


def subscribed_events(handler: Callable[..., Awaitable[None]]) -> tuple[type[Event], ...]:
    """The event classes `handler` takes, read from its first parameter's annotation.

    One event class, a union of them, or `Event` (every type in `EVENT_TYPES`). Anything else
    raises TypeError at subscribe time, not at the first delivery."""
    hint = _first_parameter_hint(handler)
    members = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    if Event in members:
        return tuple(EVENT_TYPES.values())
    for cls in members:
        if not (isinstance(cls, type) and EVENT_TYPES.get(getattr(cls, "type", "")) is cls):
            raise TypeError(
                f"{_name(handler)} is annotated with {hint!r}: annotate its first parameter with "
                "an event class from services.common.events, a union of them, or Event"
            )
    return tuple(dict.fromkeys(members))


def _first_parameter_hint(handler: Callable[..., Awaitable[None]]) -> object:
    parameters = list(inspect.signature(handler).parameters)
    # A callable object keeps its annotations on its class's __call__.
    annotated = handler if inspect.isroutine(handler) else type(handler).__call__
    try:
        hints = get_type_hints(annotated)
    except NameError as exc:  # a string annotation naming something the module does not import
        raise TypeError(f"cannot resolve the annotations of {_name(handler)}: {exc}") from exc
    if not parameters or parameters[0] not in hints:
        raise TypeError(
            f"{_name(handler)} has no annotated event parameter: the annotation is the "
            "subscription, e.g. `async def handle(event: TrainingRequested) -> None`"
        )
    return hints[parameters[0]]


def _name(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or type(handler).__qualname__


def encode(event: Event) -> bytes:
    """The message body of an event, the same on every bus."""
    return json.dumps(event.to_message()).encode()


class Subscription(Generic[EventT]):
    """A handler and the events it takes: turns a message body into one of them, or refuses."""

    def __init__(self, handler: Callable[[EventT], Awaitable[None]]) -> None:
        self.events = subscribed_events(handler)
        self.routing_keys = tuple(cls.type for cls in self.events)
        self.handler = handler

    def decode(self, body: bytes) -> EventT:
        """The typed event in a body; ValueError when it is not one this handler takes."""
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("message body is not a JSON object")
        event = parse_event(message)  # pydantic's ValidationError is a ValueError too
        if not isinstance(event, self.events):
            raise ValueError(f"{event.type} is not an event {_name(self.handler)} takes")
        return cast(EventT, event)  # checked just above against the handler's annotation
