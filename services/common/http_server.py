"""What uvicorn does not bound by itself: the time and the size of a request's head (its first
line and headers).

uvicorn's keep-alive timeout only covers idle time between requests and stops at the first
byte, so a client sending its head a byte at a time holds a connection for as long as it likes
(encode/uvicorn#157, "--timeout-request-start"); and with httptools, uvicorn's own choice when
it is installed, a header line grows without limit until it ends. This protocol closes a
connection whose next head has not fully arrived within `head_timeout_s` of the connection
opening or of the previous answer, and answers 431 to a head past `max_head_bytes`. Bodies are
limited by services/common/limits.py."""

from __future__ import annotations

import asyncio
import json
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # uvicorn[standard]

from services.common.limits import REFUSED

log = logging.getLogger(__name__)

_TOO_LARGE = json.dumps(
    {
        "detail": "The request's headers are too large. Please send a shorter request.",
        "code": "headers_too_large",
    }
).encode()


class BoundedHeadProtocol(HttpToolsProtocol):
    head_timeout_s = 10.0
    max_head_bytes = 64 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_head():  # every byte of this chunk went into the unfinished head
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
                self._refuse_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        """From now, the next request's head must arrive in time and in size."""
        if self._timer is not None:
            self._timer.cancel()
        self._answered, self._head_bytes = self.cycle, 0  # None, or the request just answered
        self._timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _waiting_for_head(self) -> bool:
        # No request has begun since the last answer (uvicorn starts one once its head is in),
        # none is under way, and the connection is still ours (not handed to a WebSocket).
        return (
            self.cycle is self._answered
            and (self.cycle is None or self.cycle.response_complete)
            and self.transport.get_protocol() is self
        )

    def _head_timed_out(self) -> None:
        if self._waiting_for_head() and not self.transport.is_closing():
            REFUSED.labels("head_timeout").inc()
            log.info(
                "closed a connection that sent no complete request in %g s", self.head_timeout_s
            )
            self.transport.close()

    def _refuse_head(self) -> None:
        REFUSED.labels("headers_too_large").inc()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
        )
        self.transport.close()


def http_protocol(head_timeout_s: float, max_head_bytes: int) -> type[asyncio.Protocol]:
    """The protocol to pass as `uvicorn.Config(http=...)`, with these bounds."""
    bounds = {"head_timeout_s": head_timeout_s, "max_head_bytes": max_head_bytes}
    return type("BoundedHeadProtocol", (BoundedHeadProtocol,), bounds)
