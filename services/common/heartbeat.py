"""Each service announces it is alive on the bus; the gateway turns that into health lights."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from services.common.bus import Bus, BusUnavailable
from services.common.events import ServiceHeartbeat

log = logging.getLogger(__name__)


def instance_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Heartbeat:
    def __init__(
        self,
        bus: Bus,
        service: str,
        interval_s: float,
        details: Callable[[], dict[str, Any]] = dict,
    ):
        self._bus, self._service, self._interval = bus, service, interval_s
        self._details = details
        self.instance = instance_name()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"heartbeat-{self._service}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def beat(self) -> None:
        event = ServiceHeartbeat(
            service=self._service,  # type: ignore[arg-type]
            instance=self.instance,
            details=self._details(),
        )
        await self._bus.publish(event)

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except BusUnavailable:
                log.warning(
                    "heartbeat not sent: broker unavailable", extra={"service": self._service}
                )
            except Exception:
                log.exception("heartbeat failed")
            await asyncio.sleep(self._interval)
