"""A real training run (a child process) on the smallest budget the settings allow, on a busy
machine: it still ends with a model, however late its quick first model comes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.storage import FileStore, dataset_path, model_path
from services.trainer.runner import Outcome, TrainingRun, TrainingSpec, hard_limit_s
from tests.support import churn_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SMALLEST_BUDGET_S = 5  # JobRequest.time_budget_s allows 5 to 3600
SECRET = b"k" * 32


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    store = FileStore(tmp_path, SECRET)
    store.write_bytes(dataset_path("churn"), churn_csv(rows=3_000))
    return store


def spec_for(store: FileStore) -> TrainingSpec:
    return TrainingSpec(
        data_dir=str(store.root),
        secret=SECRET,
        dataset_path=dataset_path("churn"),
        model_path=model_path("m1"),
        target="churn",
        time_budget_s=SMALLEST_BUDGET_S,
    )


def assert_usable_model(outcome: Outcome, store: FileStore) -> None:
    assert outcome.status == "succeeded", outcome
    assert outcome.report is not None and outcome.report.score > 0.5
    bundle = store.load_model(model_path("m1"))  # signed, for this very model id
    row = {"customer_id": "C1", "tenure_months": 3, "monthly_charges": 90.0, "plan": "basic"}
    predictions, _ = bundle.predict([row])
    assert predictions[0] in ("yes", "no")


@contextlib.contextmanager
def cpu_burners(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU beside the test: a busy machine."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


async def test_the_smallest_budget_yields_a_model_on_a_busy_machine(store: FileStore) -> None:
    with cpu_burners(2 * (os.cpu_count() or 1)):
        outcome = await TrainingRun(spec_for(store)).run(lambda f, s: asyncio.sleep(0))
    assert_usable_model(outcome, store)


def thaw(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


async def test_a_child_starved_past_the_hard_limit_still_yields_a_model(store: FileStore) -> None:
    """The child gets no CPU at all from its first word until after the hard limit (the
    extreme of a slow CPU share): the run waits for its first model instead of failing."""
    run = TrainingRun(spec_for(store))
    loop = asyncio.get_running_loop()
    frozen: list[int] = []

    async def progress(fraction: float, stage: str) -> None:
        process = run._process
        if not frozen and process is not None and process.pid:
            frozen.append(process.pid)
            os.kill(process.pid, signal.SIGSTOP)
            thaw_in = hard_limit_s(SMALLEST_BUDGET_S) + 2
            loop.call_later(thaw_in, thaw, process.pid)

    outcome = await run.run(progress)
    assert frozen, "the child never reported progress"
    assert_usable_model(outcome, store)
