"""Predictions sent without pause from a few threads, each answer kept: what a fault test needs
to say that no prediction failed while a replica could have answered it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    at: float
    """time.monotonic() when the answer came."""
    status: int
    """The HTTP status, or 0 when the request got no answer at all."""
    detail: str


class PredictionLoad:
    """`with PredictionLoad(url, row) as load:` sends predictions until the block ends."""

    def __init__(self, url: str, row: dict[str, Any], workers: int = 3, timeout: float = 30):
        self._url, self._row, self._timeout = url, row, timeout
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(workers)]
        self._lock = threading.Lock()
        self.answers: list[Answer] = []

    def __enter__(self) -> PredictionLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self._timeout + 5)

    def _send(self) -> None:
        with httpx.Client(base_url=self._url, timeout=self._timeout) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/api/predict", json={"rows": [self._row]})
                    answer = Answer(time.monotonic(), response.status_code, response.text[:200])
                except httpx.HTTPError as exc:
                    answer = Answer(time.monotonic(), 0, repr(exc))
                with self._lock:
                    self.answers.append(answer)

    def answered(self, since: float = 0.0) -> int:
        """How many answers came at or after `since` (monotonic)."""
        with self._lock:
            return sum(1 for a in self.answers if a.at >= since)

    @property
    def failures(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status != 200]

    def summary(self) -> str:
        failed = self.failures
        return f"{len(self.answers)} predictions, {len(failed)} failed" + (
            f" (first: {failed[0].status} {failed[0].detail})" if failed else ""
        )
