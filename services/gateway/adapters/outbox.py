"""The outbox: events recorded in the same transaction as the change they announce (`enqueue`),
published by the relay once the broker takes them. A broker outage delays events; it never
loses a job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from services.common.background import Repeating
from services.common.bus import Bus, BusUnavailable, Unroutable
from services.common.events import Event, new_id, parse_event
from services.gateway.adapters.database import Database
from services.gateway.adapters.orm import OutboxRow, utcnow

log = logging.getLogger(__name__)


def enqueue(session: Session, event: Event) -> None:
    """Queue an event in the same transaction as the change it announces."""
    session.add(OutboxRow(id=new_id(), message=event.to_message()))


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        interval_s: float = 2.0,
        batch: int = 100,
        declare_queues: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ):
        """`declare_queues` makes the work queues this gateway publishes to exist again, when
        one went missing (deleted by hand, a broker that lost its definitions)."""
        self._db, self._bus, self._batch = db, bus, batch
        self._declare_queues = declare_queues
        self._flushing = asyncio.Lock()
        self._repeating = Repeating("outbox-relay", self.flush, interval_s)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._repeating.start()

    async def stop(self) -> None:
        await self._repeating.stop()

    def wake(self) -> None:
        """Publish soon (call after a commit that added events); safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._repeating.wake)

    async def flush(self) -> int:
        async with self._flushing:  # one flush at a time: two would send the same rows
            return await asyncio.to_thread(self.flush_blocking)

    def flush_blocking(self) -> int:
        """Publish pending events in order (runs in a worker thread)."""
        assert self._loop is not None, "start() first"
        if self._db.engine.dialect.name == "postgresql":
            return self._flush_locked()
        return self._flush_unlocked()

    def _pending(self) -> Select[OutboxRow]:
        query = select(OutboxRow).where(OutboxRow.published_at.is_(None))
        return query.order_by(OutboxRow.created_at, OutboxRow.id).limit(self._batch)

    def _flush_locked(self) -> int:
        """PostgreSQL: hold the batch's rows locked (SKIP LOCKED) while publishing, so several
        gateway replicas never send the same events."""
        sent = 0
        with self._db.unit_of_work() as session:
            for row in session.scalars(self._pending().with_for_update(skip_locked=True)):
                if not self._publish(row):
                    break
                row.published_at = utcnow()
                sent += 1
        return sent

    def _flush_unlocked(self) -> int:
        """SQLite (one gateway): read, publish, then mark, each briefly, so a slow broker never
        holds the database's single write lock."""
        with self._db.unit_of_work() as session:
            rows = list(session.scalars(self._pending()))
        published = []
        for row in rows:
            if not self._publish(row):
                break
            published.append(row.id)
        if published:
            with self._db.unit_of_work() as session:
                session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(published))
                    .values(published_at=utcnow())
                )
        return len(published)

    def _publish(self, row: OutboxRow) -> bool:
        assert self._loop is not None
        publish = self._bus.publish(parse_event(row.message))
        try:
            asyncio.run_coroutine_threadsafe(publish, self._loop).result(timeout=30)
        except Unroutable as exc:
            # Kept in the outbox (not dropped by the broker); declared again, it goes next time.
            log.warning("outbox: %s; declaring the work queues again", exc)
            if self._declare_queues is not None:
                declare = self._declare_queues()
                with contextlib.suppress(BusUnavailable, TimeoutError):
                    asyncio.run_coroutine_threadsafe(declare, self._loop).result(timeout=30)
            return False
        except (BusUnavailable, TimeoutError) as exc:
            log.warning("outbox: broker unavailable, will retry: %s", exc)
            return False
        return True
