"""What the gateway does on a timer: spot training whose trainer died, repair outcomes that
never arrived, and clean up old data."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from services.common.background import Repeating
from services.common.bus import Bus, BusUnavailable
from services.common.bus.dead_letters import DeadLetter
from services.common.events import TRAINING_QUEUE, WORK_QUEUES, TrainingFailed, TrainingSucceeded
from services.common.storage import FileStore, model_path, model_record_path
from services.gateway.adapters.orm import utcnow
from services.gateway.adapters.smtp import EmailSender
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.emails import Notice
from services.gateway.domain.schemas import Job
from services.gateway.domain.status import HealthBoard
from services.gateway.entrypoints.consumers import Recorder
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


class Reconciler(Repeating):
    """Repairs what a lost message left behind, whatever the job's status says: a model the
    trainer finished (its file and record are on the shared folder) whose outcome was never
    recorded is recorded now, exactly as if the event had come; outcomes dead-lettered because
    the database stayed away past the retry window are replayed once it answers again."""

    def __init__(
        self,
        uow: UnitOfWork,
        store: FileStore,
        bus: Bus,
        recorder: Recorder,
        settings: GatewaySettings,
    ):
        super().__init__("reconciler", self.run, settings.reconcile_interval_s)
        self._uow, self._store, self._bus, self._recorder = uow, store, bus, recorder
        self._lookback = timedelta(days=settings.reconcile_lookback_days)

    async def run(self) -> list[str]:
        """The ids of the jobs repaired."""
        since = utcnow() - self._lookback
        candidates = await self._uow.run(lambda s: jobs.without_model(s, since))
        finished = await asyncio.to_thread(self._finished_models, candidates)
        for event in finished:
            log.warning(
                "recording a model whose outcome never arrived",
                extra={"job_id": event.job_id, "model_id": event.model_id},
            )
            await self._recorder.record(event)
        await self._replay_outcomes()  # the database answered above: worth another try
        return [event.job_id for event in finished]

    def _finished_models(self, candidates: list[tuple[str, str]]) -> list[TrainingSucceeded]:
        found = []
        for job_id, model_id in candidates:
            record = model_record_path(model_id)
            if self._store.exists(record) and self._store.exists(model_path(model_id)):
                try:
                    found.append(TrainingSucceeded.model_validate(self._store.read_json(record)))
                except (ValueError, OSError) as exc:
                    log.warning(
                        "unreadable model record %s: %r", record, exc, extra={"job_id": job_id}
                    )
        return found

    async def _replay_outcomes(self) -> None:
        """Messages that waited past the retry window are tried again; a training request
        the trainers gave up on for good ends its job with a plain reason (the message stays
        kept for whoever looks into it)."""
        try:
            for queue in WORK_QUEUES:
                letters = await self._bus.dead_letters(queue, limit=500)
                waited = [d.id for d in letters if d.reason == "gave_up" and d.id]
                if waited:
                    replayed = await self._bus.replay_dead_letters(queue, waited)
                    log.warning("replayed %d messages that waited too long on %s", replayed, queue)
                if queue == TRAINING_QUEUE:
                    for letter in letters:
                        if letter.reason != "gave_up" and letter.correlation_id:
                            await self._recorder.record(_could_not_start(letter))
        except (BusUnavailable, TimeoutError) as exc:
            log.info("dead letters not checked: %r", exc)


def _could_not_start(letter: DeadLetter) -> TrainingFailed:
    job_id = letter.correlation_id or ""
    return TrainingFailed(
        correlation_id=job_id,
        job_id=job_id,
        error="This training could not be started because of a problem on our side. Please "
        "try again; if it happens again, ask whoever runs this system to look at the "
        "Architecture page.",
        code="could_not_start",
    )


class Cleaner(Repeating):
    """Cleans up every `cleanup_interval_s` (and on start), and at once when woken (settings
    were saved): temporary files a killed process left behind; old rows in one unit of work,
    their files after its commit."""

    def __init__(self, uow: UnitOfWork, store: FileStore, settings: GatewaySettings):
        super().__init__("data-cleanup", self.run, settings.cleanup_interval_s)
        self._uow, self._store, self._budget_s = uow, store, settings.default_time_budget_s
        self.rounds = 0
        """Rounds finished so far (lets a test know the first one is over)."""

    async def run(self) -> Removed | None:
        try:
            await asyncio.to_thread(cleanup.delete_stale_temp_files, self._store)
            removed = await self._uow.run(lambda s: cleanup.clean_up(s, self._budget_s))
            if removed is not None:
                await asyncio.to_thread(cleanup.delete_files, self._store, removed.files)
            return removed
        finally:
            self.rounds += 1
