"""Routes for dead letters: the messages a work queue gave up on, kept until someone replays
them into their queue (the database is back, the bug is fixed) or discards them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query

from services.common.bus import BusUnavailable
from services.common.errors import NotFound, Unavailable
from services.common.events import WORK_QUEUES
from services.gateway.domain.schemas import (
    DeadLetterChoice,
    DeadLetterList,
    DeadLetterQueue,
    DeadLettersSettled,
)
from services.gateway.entrypoints.deps import BusDep

router = APIRouter()


@router.get("/api/dead-letters", response_model=DeadLetterList)
async def list_dead_letters(
    bus: BusDep, limit: Annotated[int, Query(ge=0, le=500)] = 50
) -> DeadLetterList:
    queues = []
    for queue in WORK_QUEUES:
        with _broker_answers():
            count = await bus.dead_letter_count(queue)
            items = await bus.dead_letters(queue, limit) if count else []
        queues.append(DeadLetterQueue(queue=queue, count=count or 0, items=items))
    return DeadLetterList(queues=queues)


@router.post("/api/dead-letters/{queue}/replay", response_model=DeadLettersSettled)
async def replay_dead_letters(
    queue: str, bus: BusDep, body: DeadLetterChoice | None = None
) -> DeadLettersSettled:
    """Put them back into their queue, to be handled again (and dead-lettered again if they
    still fail)."""
    _known(queue)
    with _broker_answers():
        count = await bus.replay_dead_letters(queue, body.ids if body else None)
    return DeadLettersSettled(queue=queue, action="replayed", count=count)


@router.post("/api/dead-letters/{queue}/discard", response_model=DeadLettersSettled)
async def discard_dead_letters(
    queue: str, bus: BusDep, body: DeadLetterChoice | None = None
) -> DeadLettersSettled:
    _known(queue)
    with _broker_answers():
        count = await bus.discard_dead_letters(queue, body.ids if body else None)
    return DeadLettersSettled(queue=queue, action="discarded", count=count)


@contextlib.contextmanager
def _broker_answers() -> Iterator[None]:
    """The broker being away is a 503 with a plain reason."""
    try:
        yield
    except (BusUnavailable, TimeoutError) as exc:
        raise Unavailable(
            "The message broker is not answering right now. Please try again in a moment.",
            code="broker_unavailable",
        ) from exc


def _known(queue: str) -> None:
    if queue not in WORK_QUEUES:
        names = ", ".join(WORK_QUEUES)
        raise NotFound(
            f"There is no queue called '{queue}'. The queues are: {names}.", code="queue_not_found"
        )
