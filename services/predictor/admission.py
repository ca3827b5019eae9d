"""How many predictions a predictor takes on at once: a bounded queue that sheds load.

A few predictions run at a time and a few more wait for a turn; a request beyond those is
refused at once with 503 `busy` and a Retry-After, so callers (the gateway tries another
replica) hear "busy" in milliseconds instead of queueing behind seconds of work."""

from __future__ import annotations

import asyncio
import contextlib
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
    def __init__(self, running: int = 4, waiting: int = 32, retry_after_s: int = 1) -> None:
        self._turns = asyncio.Semaphore(running)
        self._room = running + waiting
        self._inside = 0
        self._retry_after_s = retry_after_s

    @property
    def inside(self) -> int:
        """Requests running or waiting now."""
        return self._inside

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn among the running ones; raise Busy when the queue is full."""
        if self._inside >= self._room:
            SHED.inc()
            raise Busy(self._retry_after_s)
        self._inside += 1
        try:
            async with self._turns:
                yield
        finally:
            self._inside -= 1
