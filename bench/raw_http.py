"""A bare HTTP/1.1 client for hostile requests: it sends a body at the pace it is told, and
listens for the answer while still sending, so a server that refuses early (and stops reading)
is timed when it answers, not when the client would have finished. httpx cannot do this: it
reads the answer only once the whole body is sent, or fails with a broken pipe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    """0: the connection closed (or the wait ended) with no answer."""
    code: str
    """The JSON error's `code`, "" for a success or a body that is not one."""
    seconds: float
    """From the first byte sent to the answer's status line."""
    sent_bytes: int


def chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks in HTTP's chunked transfer coding (no Content-Length: the server must count)."""
    for chunk in chunks:
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


async def send(
    host: str,
    port: int,
    head: bytes,
    body: Iterable[bytes],
    pace_s: float = 0.0,
    timeout_s: float = 120.0,
) -> Answer:
    """Send `head` then each chunk of `body` (waiting `pace_s` between chunks) until the server
    answers; return the answer and how long it took."""
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    started = time.perf_counter()

    async def sending() -> None:
        nonlocal sent
        writer.write(head)
        for chunk in body:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            if pace_s:
                await asyncio.sleep(pace_s)

    async def answering() -> tuple[int, float, bytes]:
        status_line = await reader.readline()
        answered = time.perf_counter() - started
        if not status_line:
            return 0, answered, b""
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        content = await reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), answered, content

    sender = asyncio.create_task(sending())
    try:
        status, seconds, content = await asyncio.wait_for(answering(), timeout_s)
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        status, seconds, content = 0, time.perf_counter() - started, b""
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return Answer(status, _code(content), seconds, sent)


def _code(content: bytes) -> str:
    try:
        return str(json.loads(content).get("code", ""))
    except (ValueError, AttributeError):
        return ""
