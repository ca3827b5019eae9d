"""Each service announces it is alive on the bus; the gateway turns that into health lights."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from services.common.background import Repeating
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
        self._bus, self._service, self._details = bus, service, details
        self.instance = instance_name()
        self._loop = Repeating(f"heartbeat-{service}", self.beat, interval_s)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def beat(self) -> None:
        event = ServiceHeartbeat(
            service=self._service,  # type: ignore[arg-type]
            instance=self.instance,
            details=self._details(),
        )
        try:
            await self._bus.publish(event)
        except BusUnavailable:
            log.warning("heartbeat not sent: broker unavailable", extra={"service": self._service})
