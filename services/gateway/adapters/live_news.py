"""Sends what changed to the pages of every gateway replica, in order, without making a request
or a message handler wait for the broker: news goes out from a task of its own. While the broker
is away (or slow to confirm), this replica's own pages are told directly and the others catch
up when their pages re-read after reconnecting."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.common.bus import Bus, BusUnavailable
from services.common.events import DashboardChanged
from services.gateway.adapters.live import LiveHub

log = logging.getLogger(__name__)


class LiveNews:
    def __init__(self, bus: Bus, hub: LiveHub, backlog: int = 1000, publish_timeout_s: float = 5.0):
        self._bus, self._hub, self._timeout_s = bus, hub, publish_timeout_s
        self._waiting: asyncio.Queue[DashboardChanged] = asyncio.Queue(maxsize=backlog)
        self._task: asyncio.Task[None] | None = None

    def send(self, news: DashboardChanged) -> None:
        """Queue news for every replica's pages; never waits. A full backlog drops the oldest:
        fresh state matters more, and pages re-read what they missed."""
        if self._waiting.full():
            self._waiting.get_nowait()
        self._waiting.put_nowait(news)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-news")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            news = await self._waiting.get()
            if not await self._published(news):
                show(self._hub, news)  # the broker is away: this replica's pages at least

    async def _published(self, news: DashboardChanged) -> bool:
        if not self._bus.connected:
            return False
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._bus.publish(news)
        except (BusUnavailable, TimeoutError) as exc:
            log.warning("live news not sent through the broker: %r", exc)
            return False
        return True


def show(hub: LiveHub, news: DashboardChanged) -> None:
    """Send this replica's pages what changed."""
    for update in news.updates:
        hub.broadcast(str(update["type"]), update["data"])
