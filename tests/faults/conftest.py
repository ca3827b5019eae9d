"""The fault tier: the product as OS processes behind proxies the tests switch, faults at chosen
moments, and the invariants after each. Every test here is marked `faults` (and `e2e` and
`integration`: it starts processes and needs RabbitMQ and PostgreSQL).

Each test declares its fault and the outcome it expects once, with
`@pytest.mark.fault("what goes wrong", "what must still hold")`; its docstring says what it does.
At the end of the session the results are written as a markdown table to build/faults.md,
from which the README's reliability section is refreshed."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster, fresh_database
from tests.faults.scene import Scene
from tests.support import delete_bus_namespace

HERE = Path(__file__).parent
RESULTS = HERE.parents[1] / "build" / "faults.md"
LOGS = RESULTS.with_name("faults-logs")
"""Each service's log from the last run, for reading why a fault test failed."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            for tier in ("faults", "e2e", "integration"):
                item.add_marker(tier)


@pytest.fixture(scope="session")
def running_cluster(
    tmp_path_factory: pytest.TempPathFactory, amqp_url: str, postgres_server_url: str
) -> Iterator[Cluster]:
    """One installation for the whole tier (starting five services takes a while); each test
    gets it back in shape through `ready()`."""
    with fresh_database(postgres_server_url) as database_url:
        cluster = Cluster(tmp_path_factory.mktemp("faults"), amqp_url, database_url)
        try:
            cluster.ready()
            yield cluster
        finally:
            cluster.stop()
            asyncio.run(delete_bus_namespace(amqp_url, cluster.namespace))
            # Kept beside the results: pytest's own temporary folders are soon rotated away.
            shutil.rmtree(LOGS, ignore_errors=True)
            if cluster.logs.exists():
                shutil.copytree(cluster.logs, LOGS, dirs_exist_ok=True)


_SCENE = pytest.StashKey[Scene]()


@pytest.fixture
def scene(running_cluster: Cluster, request: pytest.FixtureRequest) -> Scene:
    running_cluster.ready()
    found = Scene(running_cluster, dead_before=running_cluster.check.dead_letters())
    request.node.stash[_SCENE] = found
    return found


# -- the results table -----------------------------------------------------------------------


@dataclass
class Result:
    fault: str
    expected: str
    did: str
    notes: list[str] = field(default_factory=list)
    """What the test saw (Scene.saw)."""
    errors: list[str] = field(default_factory=list)
    """The first line of each failure."""
    outcome: str = "passed"
    seconds: float = 0.0

    @property
    def observed(self) -> str:
        return "; ".join(self.notes + self.errors) or "-"


_RESULTS = pytest.StashKey[dict[str, Result]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = (yield).get_result()  # type: ignore[attr-defined]
    marker = item.get_closest_marker("fault")
    if marker is None:
        return
    results = item.config.stash.setdefault(_RESULTS, {})
    fault, expected = marker.args[:2]
    doc = " ".join((getattr(item, "obj", None).__doc__ or "").split())
    result = results.setdefault(item.nodeid, Result(fault, expected, did=doc))
    if report.when == "call" or report.failed:
        result.seconds += report.duration
    scene = item.stash.get(_SCENE, None)
    if scene is not None:
        result.notes = scene.notes
    if report.failed:
        if result.outcome == "passed":
            result.outcome = "failed" if report.when == "call" else f"error in {report.when}"
        if call.excinfo is not None:
            result.errors.append(call.excinfo.exconly().strip().splitlines()[0][:300])
    elif report.skipped:
        result.outcome = "skipped"


def pytest_sessionfinish(session: pytest.Session) -> None:
    results = session.config.stash.get(_RESULTS, {})
    if results:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(results_table(list(results.values())))


def results_table(results: list[Result]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    passed = sum(1 for r in results if r.outcome == "passed")
    lines = [
        "# Fault suite results",
        "",
        f"Written by `pytest tests/faults` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{passed} of {len(results)} passed.",
        "",
        "| fault | expected | what the test did | outcome observed | result | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        row = [r.fault, r.expected, r.did, r.observed, r.outcome, f"{r.seconds:.0f}"]
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"
