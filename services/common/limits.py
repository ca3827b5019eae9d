"""What a request body may cost a service before anything reads it: how large it may be and
how long it may take to arrive.

`LimitBodies` is a pure ASGI middleware the server wraps around each served app
(services/cli.py). A JSON (any non-multipart) body is read here, at most up to the limit,
before the app sees it: one too large is refused at once from its Content-Length, or as soon as
the counted bytes pass the limit, so a 200 MB body is never held. A multipart upload is
streamed by its own reader, which limits its size (the gateway's adapters/uploads.py); here it
only gets the time limit. Refusals are the app's JSON errors and close the connection, so a
client still sending is not read any further."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import AppError
from services.common.web import error_response

REFUSED = Counter(
    "mlops_http_refused_total", "Requests refused or cut before being read whole", ["code"]
)


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int = 1024 * 1024
    """Largest JSON (non-multipart) body."""
    timeout_s: float = 30.0
    """Time any body may take to arrive, plus a second per `min_bytes_per_s` bytes received
    (the MinRate rule of Apache's mod_reqtimeout): a large upload on a slow but honest link
    keeps going, a client trickling a few bytes at a time does not."""
    min_bytes_per_s: int = 64 * 1024


class BodyTooLarge(AppError):
    status = 413
    code = "too_large"


class BodyTooSlow(AppError):
    status = 408
    code = "too_slow"


class LimitBodies:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(receive, self.limits)
        if _is_multipart(scope):
            await self._stream(scope, body, send)
            return
        try:
            if _declared_length(scope) > self.limits.max_bytes:
                raise body.too_large()  # refused before reading a byte
            content = await body.read_all()
        except (BodyTooLarge, BodyTooSlow) as refusal:
            await _refuse(scope, receive, send, refusal)
            return
        if content is not None:  # None: the client left before sending it all
            await self.app(scope, _replay(content, receive), send)

    async def _stream(self, scope: Scope, body: _Body, send: Send) -> None:
        """Pass a multipart body on as it arrives, within its time. A refusal raised inside the
        app while it reads is answered here, whatever answer the app made of it."""
        answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if body.refusal is not None:
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await _refuse(scope, body.receive, send, body.refusal)
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, body.receive, guarded_send)
        except (BodyTooLarge, BodyTooSlow) as error:
            if error is not body.refusal:
                raise
            if not answered:  # the app let the refusal through unanswered
                await _refuse(scope, body.receive, send, error)


class _Body:
    """A request's body as it arrives, counted and timed."""

    def __init__(self, receive: Receive, limits: BodyLimits) -> None:
        self._receive, self._limits = receive, limits
        self._started = asyncio.get_running_loop().time()
        self._received = 0
        self._complete = False
        self.refusal: AppError | None = None

    async def receive(self) -> Message:
        if self._complete:  # after the body: only the disconnect is left to wait for
            return await self._receive()
        deadline = self._started + self._limits.timeout_s
        deadline += self._received / self._limits.min_bytes_per_s
        try:
            async with asyncio.timeout_at(deadline):
                message = await self._receive()
        except TimeoutError:
            self.refusal = BodyTooSlow(
                "The request took too long to arrive. Please check the connection and try again."
            )
            raise self.refusal from None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        return message

    async def read_all(self) -> bytes | None:
        chunks: list[bytes] = []
        while not self._complete:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if self._received > self._limits.max_bytes:
                raise self.too_large()
        return b"".join(chunks)

    def too_large(self) -> BodyTooLarge:
        limit = _size(self._limits.max_bytes)
        self.refusal = BodyTooLarge(
            f"The request is larger than the {limit} limit. Please send less at once "
            "(many rows are best sent as a CSV file)."
        )
        return self.refusal


def _replay(content: bytes, receive: Receive) -> Receive:
    """The body already read, then whatever the server says next (a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": content, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: AppError) -> None:
    REFUSED.labels(refusal.code).inc()
    # Connection: close, so the server reads nothing more of a body still on its way.
    response = error_response(refusal.status, refusal.detail, refusal.code)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", ()) if key.lower() == name), b"")


def _is_multipart(scope: Scope) -> bool:
    return _header(scope, b"content-type").lower().startswith(b"multipart/")


def _declared_length(scope: Scope) -> int:
    declared = _header(scope, b"content-length")
    return int(declared) if declared.isdigit() else 0


def _size(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else f"{max(1, n // 1024)} KB"
