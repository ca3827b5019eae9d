"""The one path by which facts reach people, after the commit that made them: a line in the
activity feed, worded once (activity.describe), and a live update to the pages of every gateway
replica (a `dashboard.changed` event, sent by adapters/live_news.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.common.events import DashboardChanged
from services.gateway.adapters.database import Database
from services.gateway.adapters.live_news import LiveNews
from services.gateway.domain.facts import Fact
from services.gateway.domain.schemas import Activity
from services.gateway.handlers import activity

log = logging.getLogger(__name__)


class Announcer:
    def __init__(self, db: Database, news: LiveNews):
        self._db, self._news = db, news

    async def tell(self, facts: Sequence[Fact]) -> None:
        """Record the facts' activity lines, then send them and the views they carry live."""
        lines = await self._record(facts)
        updates = [
            {"type": kind, "data": view.model_dump(mode="json")}
            for fact in facts
            for kind, view in activity.live_views(fact)
        ]
        updates += [{"type": "activity", "data": line.model_dump(mode="json")} for line in lines]
        if not updates:
            return
        self._news.send(DashboardChanged(updates=updates))

    async def _record(self, facts: Sequence[Fact]) -> list[Activity]:
        if not any(activity.describe(fact) for fact in facts):
            return []  # only views changed (progress): no feed line, no transaction

        def blocking() -> list[Activity]:
            with self._db.unit_of_work() as session:
                return activity.record(session, facts)

        try:
            return await asyncio.to_thread(blocking)
        except Exception:  # the change itself is committed; a lost feed line must not undo it
            log.exception("could not record activity")
            return []
