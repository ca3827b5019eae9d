"""One way for every service to start and stop what it runs (subscriptions, loops, caches).

A service starts its parts in order and stops them in reverse. Stopping must always finish:
it stops only the parts that started, gives each a few seconds, and logs (never raises) a
part that fails or hangs, so one stuck part cannot keep the rest, or the process, running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import FastAPI

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 6.0
"""How long one part may take to stop: longer than `Repeating`'s own 5 s grace, so a loop
cancels itself before it is given up on."""


class Startable(Protocol):
    """Anything a service starts and stops: a loop, a heartbeat, a subscription, a cache."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Service(Startable, Protocol):
    """What `bootstrap()` returns and services/cli.py runs: an HTTP app and its parts."""

    app: FastAPI


class Step:
    """A part made of two actions, for what has no object of its own: a bus subscription
    (nothing to stop), a client to close (nothing to start). Either may be left out."""

    def __init__(
        self,
        name: str,
        start: Callable[[], Awaitable[object]] | None = None,
        stop: Callable[[], Awaitable[object]] | None = None,
    ):
        self.name, self._start, self._stop = name, start, stop

    async def start(self) -> None:
        if self._start is not None:
            await self._start()

    async def stop(self) -> None:
        if self._stop is not None:
            await self._stop()


class Lifecycle:
    """Starts `parts` in order; stops the started ones in reverse, each within a time limit.

    A service subclasses it (and sets `app`) to satisfy `Service` without start/stop code of
    its own. A part that fails to start stops the ones before it, then the error propagates:
    the caller never has to stop a half-started service."""

    def __init__(self, name: str, *parts: Startable, stop_timeout_s: float = STOP_TIMEOUT_S):
        self.name, self._parts, self._stop_timeout_s = name, parts, stop_timeout_s
        self._started: list[Startable] = []

    async def start(self) -> None:
        try:
            for part in self._parts:
                await part.start()
                self._started.append(part)
        except BaseException:
            await self.stop()
            raise
        log.info("%s started", self.name)

    async def stop(self) -> None:
        while self._started:
            await self._stop_one(self._started.pop())

    async def _stop_one(self, part: Startable) -> None:
        try:
            async with asyncio.timeout(self._stop_timeout_s):
                await part.stop()
        except Exception:  # TimeoutError included; a cancellation of the caller still propagates
            log.exception("%s: stopping %s failed", self.name, part_name(part))


def part_name(part: object) -> str:
    """A part's own `name` when it has one (Repeating, Step), else its class."""
    return str(getattr(part, "name", None) or type(part).__name__)
