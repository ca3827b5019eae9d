"""How many predictions a service takes on at once: a bounded queue that sheds load.

A few predictions run at a time and a few more wait for a turn; a request beyond those is
refused at once with 503 `busy` and a Retry-After, so callers hear "busy" in milliseconds
instead of queueing behind seconds of work. The predictor keeps one (its model's turns); the
gateway keeps one at its door too, deciding before it does any work for the request."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from prometheus_client import Counter

from services.common.errors import Unavailable

SHED = Counter("mlops_predictions_shed_total", "Prediction requests refused as busy")


class Busy(Unavailable):
    code = "busy"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("The prediction service is busy right now. Please try again in a moment.")
        self.headers = {"Retry-After": str(retry_after_s)}


class Admission:
    """`running` predictions at a time; a request waits for a turn only while the queue is
    short both in count (`waiting`) and in time: the wait it would face, estimated from how long
    recent turns took, must stay under `max_wait_s`. Beyond either, Busy at once."""

    def __init__(
        self, running: int = 4, waiting: int = 32, max_wait_s: float = 2.0, retry_after_s: int = 1
    ) -> None:
        self._turns = asyncio.Semaphore(running)
        self._running, self._room = running, running + waiting
        self._max_wait_s = max_wait_s
        self._inside = 0
        self._retry_after_s = retry_after_s
        self._turn_s = 0.0
        """A moving average of how long a turn takes (0 until one has been measured)."""

    @property
    def inside(self) -> int:
        """Requests running or waiting now."""
        return self._inside

    def expected_wait_s(self) -> float:
        """How long a request arriving now would wait for its turn."""
        ahead = max(self._inside - self._running + 1, 0)
        return ahead * self._turn_s / self._running

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn among the running ones; raise Busy when the queue is full or the
        wait would be too long."""
        wait = self.expected_wait_s()
        if self._inside >= self._room or wait > self._max_wait_s:
            SHED.inc()
            raise Busy(max(self._retry_after_s, math.ceil(wait)))
        self._inside += 1
        try:
            async with self._turns:
                started = time.monotonic()
                try:
                    yield
                finally:
                    took = time.monotonic() - started
                    self._turn_s = took if not self._turn_s else 0.8 * self._turn_s + 0.2 * took
        finally:
            self._inside -= 1
