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
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Run the action now rather than at the end of the pause (call on the loop's thread)."""
        self._wakeup.set()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Ask the loop to end, and cancel it if it has not within `grace_s`. A flag as well as
        a cancel: a library that swallows a cancellation must not keep the loop alive."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wakeup.set()
        try:
            await asyncio.wait({task}, timeout=grace_s)
        finally:  # also when this stop is itself cancelled (a bounded shutdown gave up on it)
            if not task.done():
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        if await self._pause(self._first_delay):
            return
        while True:
            try:
                await self._action()
            except Exception:
                log.exception("%s failed; trying again in %s s", self.name, self._interval)
            if await self._pause(self._interval):
                return

    async def _pause(self, seconds: float) -> bool:
        """Sleep, waking early when woken or stopped; True means stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()
        self._wakeup.clear()
        return self._stopping.is_set()
