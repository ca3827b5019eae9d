"""What the gateway does on a timer: spot training whose trainer died, and clean up old data."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from services.common.background import Repeating
from services.common.storage import FileStore
from services.gateway.adapters.orm import utcnow
from services.gateway.adapters.smtp import EmailSender
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.emails import Notice
from services.gateway.domain.schemas import Job
from services.gateway.domain.status import HealthBoard
from services.gateway.handlers import cleanup, jobs, notifications
from services.gateway.handlers.cleanup import Removed
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class JobWatchdog(Repeating):
    """Running jobs whose trainer died (no live trainer claims them in its heartbeats) show as
    waiting again, or as failed once tried too often: no job sits in "running" forever."""

    def __init__(
        self,
        uow: UnitOfWork,
        board: HealthBoard,
        emails: EmailSender,
        settings: GatewaySettings,
        max_attempts: int,
    ):
        interval = settings.heartbeat_interval_s
        super().__init__("job-watchdog", self.check, interval, first_delay_s=interval)
        self._uow, self._board, self._emails, self._settings = uow, board, emails, settings
        self._max_attempts = max_attempts
        """As often as the jobs queue delivers a job before dead-lettering it."""

    async def check(self) -> list[Job]:
        if not self._board.watching_long_enough():
            return []
        claimed, quiet_s = self._board.claimed_jobs(), self._board.stale_after
        changed, notices = await self._uow.run(lambda s: self._requeue(s, claimed, quiet_s))
        for job in changed:
            log.warning("job lost its trainer", extra={"job_id": job.id, "status": job.status})
        for notice in notices:  # committed: a job given up on is "training did not finish" too
            self._emails.submit(notice)
        return changed

    def _requeue(
        self, session: Session, claimed: set[str], quiet_s: float
    ) -> tuple[list[Job], list[Notice]]:
        quiet_since = utcnow() - timedelta(seconds=quiet_s)
        rows = jobs.requeue_orphans(session, claimed, quiet_since, self._max_attempts)
        failed = [
            notifications.for_failure(session, self._settings, r.id)
            for r in rows
            if r.status == "failed"
        ]
        return [Job.of(row) for row in rows], [n for n in failed if n is not None]


class Cleaner(Repeating):
    """Cleans up every `cleanup_interval_s`, and at once when woken (settings were saved):
    rows in one unit of work, files after its commit."""

    def __init__(self, uow: UnitOfWork, store: FileStore, settings: GatewaySettings):
        super().__init__("data-cleanup", self.run, settings.cleanup_interval_s)
        self._uow, self._store, self._budget_s = uow, store, settings.default_time_budget_s
        self.rounds = 0
        """Rounds finished so far (lets a test know the first one is over)."""

    async def run(self) -> Removed | None:
        try:
            removed = await self._uow.run(lambda s: cleanup.clean_up(s, self._budget_s))
            if removed is not None:
                await asyncio.to_thread(cleanup.delete_files, self._store, removed.files)
            return removed
        finally:
            self.rounds += 1
