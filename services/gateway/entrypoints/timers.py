"""Spots running jobs whose trainer died (no live trainer claims them in its heartbeats) and
shows them as waiting again, or as failed once they have been tried too often -- so no job
sits in "running" forever."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from services.common.background import Repeating
from services.common.bus import Bus
from services.gateway.adapters.orm import utcnow
from services.gateway.handlers import jobs
from services.gateway.notify import Notice
from services.gateway.schemas import Job

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway

log = logging.getLogger(__name__)


class JobWatchdog:
    def __init__(self, gateway: Gateway, interval_s: float):
        self._gw = gateway
        self._loop = Repeating("job-watchdog", self.check, interval_s, first_delay_s=interval_s)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def check(self) -> list[Job]:
        board = self._gw.board
        if not board.watching_long_enough():
            return []
        changed, notices = await asyncio.to_thread(
            self._check_blocking, board.claimed_jobs(), board.stale_after
        )
        for job in changed:
            log.warning("job lost its trainer", extra={"job_id": job.id, "status": job.status})
            self._gw.hub.broadcast("job", job)
        for notice in notices:  # committed: a job given up on is "training did not finish" too
            self._gw.notifier.submit(notice)
        return changed

    def _check_blocking(self, claimed: set[str], quiet_s: float) -> tuple[list[Job], list[Notice]]:
        with self._gw.db.unit_of_work() as session:
            quiet_since = utcnow() - timedelta(seconds=quiet_s)
            rows = jobs.requeue_orphans(session, claimed, quiet_since, Bus.max_deliveries)
            failed = [
                self._gw.notifier.for_failure(session, r.id) for r in rows if r.status == "failed"
            ]
            return [Job.of(row) for row in rows], [n for n in failed if n is not None]
