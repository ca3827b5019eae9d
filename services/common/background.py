"""Background loops that every service runs (heartbeats, sampling, watchdogs): started and
stopped cleanly, and never killed by one failed round."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Repeating:
    """Runs `action` every `interval_s` seconds in a task of its own until stopped."""

    def __init__(
        self,
        name: str,
        action: Callable[[], Awaitable[object]],
        interval_s: float,
        first_delay_s: float = 0.0,
    ):
        self.name, self._action = name, action
        self._interval, self._first_delay = interval_s, first_delay_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self._action()
            except Exception:
                log.exception("%s failed; trying again in %s s", self.name, self._interval)
            await asyncio.sleep(self._interval)
