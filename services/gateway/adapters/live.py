"""Live updates over WebSocket: every connected page gets each message; a slow page drops old
messages rather than slowing the others. The server pings; the page answers with a pong. The page
may ping too (`{"type": "ping", "id": n}`), to measure the round trip itself: it gets a pong."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder
from prometheus_client import Gauge

log = logging.getLogger(__name__)
WS_CLIENTS = Gauge("mlops_ws_clients", "Connected dashboard pages")


def message(kind: str, data: Any) -> dict[str, Any]:
    return {"type": kind, "data": jsonable_encoder(data), "ts": datetime.now(UTC).isoformat()}


class _Client:
    def __init__(self, socket: WebSocket):
        self.socket = socket
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=200)
        self.last_pong = time.monotonic()
        self.rtt_ms: float | None = None
        self.ping_sent = 0.0

    def offer(self, item: dict[str, Any]) -> None:
        if self.outbox.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.outbox.get_nowait()  # drop the oldest: fresh state matters more
        self.outbox.put_nowait(item)


class LiveHub:
    def __init__(self, ping_interval_s: float = 10.0, dead_after_s: float = 35.0):
        self._clients: set[_Client] = set()
        self._ping_interval, self._dead_after = ping_interval_s, dead_after_s

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def broadcast(self, kind: str, data: Any) -> None:
        item = message(kind, data)
        for client in list(self._clients):
            client.offer(item)

    async def serve(self, socket: WebSocket, greeting: list[dict[str, Any]]) -> None:
        """Run one page's connection until it goes away."""
        await socket.accept()
        client = _Client(socket)
        for item in greeting:
            client.offer(item)
        self._clients.add(client)
        WS_CLIENTS.set(len(self._clients))
        tasks = [asyncio.create_task(self._send(client)), asyncio.create_task(self._ping(client))]
        try:
            await self._receive(client)
        finally:
            self._clients.discard(client)
            WS_CLIENTS.set(len(self._clients))
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _receive(self, client: _Client) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                try:
                    incoming = json.loads(await client.socket.receive_text())
                except ValueError:
                    continue  # not JSON: ignore it rather than drop the page
                kind = incoming.get("type") if isinstance(incoming, dict) else None
                if kind == "pong":
                    client.last_pong = time.monotonic()
                    client.rtt_ms = round((client.last_pong - client.ping_sent) * 1000, 1)
                elif kind == "ping":  # the page measuring the round trip; it proves it is alive
                    client.last_pong = time.monotonic()
                    client.offer(message("pong", {"id": incoming.get("id")}))

    async def _send(self, client: _Client) -> None:
        while True:
            item = await client.outbox.get()
            await client.socket.send_json(item)

    async def _ping(self, client: _Client) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            if time.monotonic() - client.last_pong > self._dead_after:
                log.info("closing a silent WebSocket")
                with contextlib.suppress(Exception):
                    await client.socket.close(code=1001)
                return
            client.ping_sent = time.monotonic()
            client.offer(message("ping", {"rtt_ms": client.rtt_ms}))
