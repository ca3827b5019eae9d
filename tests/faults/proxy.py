"""A TCP proxy the tests control, between the services and RabbitMQ or PostgreSQL.

It runs on an event loop in a thread of its own, so synchronous tests can switch it while the
services (other OS processes) talk through it:

- `cut()`: every open connection is closed and new ones are refused, as when a server stops.
- `blackhole()`: a silent partition. Connections stay open, but the bytes sent either way are
  dropped, and new connections are accepted and go nowhere. Nobody is told anything.
- `restore()`: connections go through again. A connection that lost bytes in a blackhole is
  reset then: a stream with a hole in it cannot go on (the peers would read garbage).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from tests.support import free_port

Mode = Literal["open", "cut", "blackhole"]


@dataclass(eq=False)
class _Link:
    """One client connection, and the server connection behind it once there is one."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    lost_bytes: bool = False

    def abort(self) -> None:
        for writer in (self.client, self.server):
            if writer is not None:
                writer.transport.abort()


class TcpProxy:
    """Listens on 127.0.0.1:`port` (a free one unless given) and relays to `host`:`target`.

    Starts switched off: call `restore()` to open it."""

    def __init__(self, host: str, target: int, port: int | None = None) -> None:
        self._target = (host, target)
        self.port = port or free_port()
        self.mode: Mode = "cut"
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @classmethod
    def for_url(cls, url: str, default_port: int) -> TcpProxy:
        """A proxy in front of the server a URL names (amqp://..., postgresql://...)."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or default_port)

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by the proxy's (credentials, path and query
        kept), so a client given it connects through the proxy."""
        parts = urlsplit(url)
        login = parts.netloc.rpartition("@")[0]
        netloc = f"{login}@127.0.0.1:{self.port}" if login else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._links)

    def cut(self) -> None:
        self._call(self._cut())

    def blackhole(self) -> None:
        self._call(self._blackhole())

    def restore(self) -> None:
        self._call(self._restore())

    def close(self) -> None:
        """Cut everything and stop the proxy's thread."""
        if self._thread.is_alive():
            self.cut()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _cut(self) -> None:
        self.mode = "cut"
        server, self._server = self._server, None
        if server is not None:
            server.close()  # refuse new connections
        self._abort(self._links)
        if server is not None:
            await server.wait_closed()

    async def _blackhole(self) -> None:
        self.mode = "blackhole"
        await self._listen()

    async def _restore(self) -> None:
        self.mode = "open"
        self._abort({link for link in self._links if link.lost_bytes})
        await self._listen()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def _abort(self, links: set[_Link]) -> None:
        for link in links:
            link.abort()
        self._links -= links

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.add(link)
        try:
            if self.mode != "open":  # a blackhole: the connection goes nowhere
                link.lost_bytes = True
                await self._pipe(reader, None, link)
                return
            try:
                server_reader, link.server = await asyncio.open_connection(*self._target)
            except OSError:
                return  # the real server is down: so is this connection
            if link not in self._links:
                return  # cut while connecting
            await asyncio.gather(
                self._pipe(reader, link.server, link), self._pipe(server_reader, writer, link)
            )
        finally:
            link.abort()
            self._links.discard(link)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, link: _Link
    ) -> None:
        """Relay one direction until either end closes; in a blackhole, read and drop."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if writer is None or self.mode != "open" or link.lost_bytes:
                    link.lost_bytes = True
                    continue
                writer.write(data)
                await writer.drain()
        link.abort()  # one side closed: close the other, as a real connection would
