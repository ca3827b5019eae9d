"""What a work queue gave up on: one typed description of a dead letter, shared by both buses,
the gateway's API and the Architecture page.

A dead letter is kept (RabbitMQ: in `<queue>.dead`) until someone replays it into its queue or
discards it; nothing is lost silently.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

DeadReason = Literal["malformed", "rejected", "failed", "gave_up", "delivery_limit"]
REASONS: dict[str, str] = {
    "malformed": "It is not an event this queue takes (unreadable, or of another kind).",
    "rejected": "Its handler said it can never succeed.",
    "failed": "Its handler failed in a way that retrying would not change.",
    "gave_up": "Something it needs (the database, the broker) stayed away longer than the "
    "retry window.",
    "delivery_limit": "It was handed out too many times: whoever took it kept stopping.",
}
"""Each reason in plain words, as the Architecture page shows them."""


class DeadLetter(BaseModel):
    """One message a work queue gave up on."""

    queue: str
    """The work queue it came from (without any installation prefix)."""
    id: str
    """The event's id (the broker's message id), or "" when the message was unreadable."""
    type: str
    """The event type, or "" when unreadable."""
    correlation_id: str | None = None
    """The job it is about, when it is about one."""
    reason: DeadReason
    explanation: str = ""
    """The reason in plain words."""
    error: str = ""
    """What the handler raised, as it said it."""
    attempts: int = 1
    dead_at: datetime | None = None


def describe(
    queue: str,
    body: bytes,
    reason: DeadReason,
    *,
    error: str = "",
    attempts: int = 1,
    dead_at: datetime | None = None,
) -> DeadLetter:
    """A dead letter from a message body, reading the envelope when it is readable."""
    envelope: dict[str, object] = {}
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            envelope = parsed
    except ValueError:
        pass
    correlation = envelope.get("correlation_id")
    return DeadLetter(
        queue=queue,
        id=str(envelope.get("id") or ""),
        type=str(envelope.get("type") or ""),
        correlation_id=str(correlation) if correlation else None,
        reason=reason,
        explanation=REASONS[reason],
        error=error[:500],
        attempts=attempts,
        dead_at=dead_at,
    )
