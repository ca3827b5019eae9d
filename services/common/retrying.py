"""One way to retry something that fails while what it needs is away: exponential backoff with
jitter (tenacity) for a window of time, each failure logged, the last one raised."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)


def patiently(
    window_s: float,
    worth_retrying: Callable[[BaseException], bool],
    what: str,
    *,
    max_wait_s: float = 15.0,
) -> AsyncRetrying:
    """Use as `async for attempt in patiently(...): with attempt: await work()`; `what` names
    the work in the log ("handling training.started abc from gateway.records")."""

    def tell(state: RetryCallState) -> None:
        log.warning(
            "%s failed for now (try %d), retrying: %r",
            what,
            state.attempt_number,
            state.outcome.exception() if state.outcome else None,
        )

    return AsyncRetrying(
        retry=retry_if_exception(worth_retrying),
        wait=wait_exponential_jitter(multiplier=0.2, max=max_wait_s, jitter=0.2),
        stop=stop_after_delay(window_s),
        before_sleep=tell,
        reraise=True,
    )
