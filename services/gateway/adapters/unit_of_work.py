"""One unit of work per request or message: a transaction on a worker thread (the database
driver blocks), the facts its handlers collected, and what follows its commit.

Handlers report what happened with `collect(session, fact)`; nothing is told while the
transaction may still roll back. After the commit the outbox relay is woken (events recorded
in the transaction go out) and the facts are handed to `after_commit`, the one path by which
they reach the activity feed and the live pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from services.common.errors import Unavailable
from services.gateway.adapters.database import Database, is_outage
from services.gateway.domain.facts import Fact

T = TypeVar("T")
AfterCommit = Callable[[Sequence[Fact]], Awaitable[None]]
_FACTS = "facts"
DATABASE_AWAY = "The database is not answering right now. Please try again in a moment."


def collect(session: Session, *facts: Fact) -> None:
    """Report what happened in this transaction; told only once it commits."""
    session.info.setdefault(_FACTS, []).extend(facts)


class UnitOfWork:
    def __init__(self, db: Database, wake_outbox: Callable[[], None], after_commit: AfterCommit):
        self._db, self._wake_outbox, self._after_commit = db, wake_outbox, after_commit

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction on a worker thread, then tell what it collected."""

        def blocking() -> tuple[T, list[Fact]]:
            with self._db.unit_of_work() as session:
                result = work(session)
                facts: list[Fact] = session.info.pop(_FACTS, [])
            return result, facts

        try:
            result, facts = await asyncio.to_thread(blocking)
        except Exception as exc:
            if is_outage(exc):  # a 503 for a request, a retry for an event (bus triage)
                raise Unavailable(DATABASE_AWAY, code="database_unavailable") from exc
            raise
        self._wake_outbox()
        if facts:
            await self._after_commit(facts)
        return result
