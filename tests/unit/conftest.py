"""The unit tier: no network, no child processes, no broker or database servers (SQLite files
and the in-memory bus are fine). Every test here is marked `unit`; one that starts a process
(`multiprocessing`, as the trainer does) or connects over the network fails and names the tier
it belongs in (README, "Tests"). Programs run through `subprocess` are not refused: libraries
probe the machine that way (joblib runs `lscpu` to count cores)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # A unit test's variant marked `integration` (e.g. on PostgreSQL) belongs to that tier.
        if item.path.is_relative_to(HERE) and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def stays_a_unit_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse child processes and network connections for the test's own duration."""
    if not request.node.get_closest_marker("unit"):
        return
    monkeypatch.setattr(BaseProcess, "start", _refuse("start a child process", "tests/e2e"))
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _local_only(getattr(socket.socket, name)))


def _refuse(what: str, tier: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"a unit test may not {what}: move it to {tier} (README, 'Tests')")

    return refused


def _local_only(connect: Callable[..., Any]) -> Callable[..., Any]:
    def connect_unless_network(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError(
                f"a unit test may not connect to {address}: real servers are for "
                "tests/integration, the product as processes for tests/e2e (README, 'Tests')"
            )
        return connect(sock, address)

    return connect_unless_network
