"""A model from every valid file in every budget, even on a busy machine: the search's quick
first look, and the limits of a training run (runner.py) checked through a pipe, without a
child process."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from multiprocessing import Pipe
from multiprocessing.connection import Connection

import numpy as np
import pytest

from services.trainer import runner
from services.trainer.domain import StoppedBeforeAnyModel, TrainingResult, train_model
from services.trainer.domain.search import QUICK_MIN_PER_LABEL, Search
from services.trainer.runner import (
    Failed,
    Finished,
    FirstModel,
    Listening,
    Outcome,
    Progressed,
    Saving,
    TrainingRun,
    TrainingSpec,
)
from tests.support import model_report
from tests.unit.test_automl import iris_search
from tests.unit.test_training import churn_data

N = 300
EXAM_ROWS = N // 5


def exam_rows(result: TrainingResult) -> int:
    return int(np.asarray(result.report.metrics["confusion_matrix"]["matrix"]).sum())


# --- the search's first look ----------------------------------------------------------------


def test_a_stop_asked_before_any_model_still_yields_one_graded_on_the_exam_rows() -> None:
    result = train_model(churn_data(n=N), "churn", time_budget_s=5, should_stop=lambda: True)
    assert len(result.report.leaderboard) == 1
    assert exam_rows(result) == EXAM_ROWS  # an honest grade: rows the search never saw
    assert any("stopped early" in note for note in result.report.notes)
    predictions, _ = result.bundle.predict_frame(churn_data(seed=9, n=20))
    assert len(predictions) == 20


def test_a_budget_spent_before_the_search_begins_still_yields_a_model() -> None:
    result = train_model(churn_data(n=N), "churn", time_budget_s=0.001)
    assert result.report.leaderboard and result.report.score > 0.5
    assert exam_rows(result) == EXAM_ROWS


def test_only_a_cancel_gives_up_the_first_model() -> None:
    with pytest.raises(StoppedBeforeAnyModel):
        train_model(
            churn_data(n=N),
            "churn",
            time_budget_s=5,
            should_stop=lambda: True,
            cancelled=lambda: True,
        )


def test_the_first_model_is_handed_over_complete_while_the_search_goes_on() -> None:
    firsts: list[TrainingResult] = []
    result = train_model(churn_data(n=N), "churn", time_budget_s=60, on_first_model=firsts.append)
    assert len(firsts) == 1
    first = firsts[0]
    assert len(first.report.leaderboard) == 1 and first.report.feature_importance == []
    assert exam_rows(first) == EXAM_ROWS
    assert first.report.score > 0.6
    predictions, _ = first.bundle.predict_frame(churn_data(seed=9, n=20))
    assert len(predictions) == 20
    assert len(result.report.leaderboard) > 1  # the search went on after it
    assert result.report.score >= first.report.score - 0.05


def test_a_chosen_kind_of_model_takes_the_first_look_too() -> None:
    firsts: list[TrainingResult] = []
    train_model(
        churn_data(n=N), "churn", time_budget_s=60, algorithm="linear", on_first_model=firsts.append
    )
    assert firsts[0].report.algorithm == "Linear model"


def test_the_first_look_learns_from_a_sample_with_every_label() -> None:
    search = iris_search(names=["extra_trees"], seed=0)
    train = search.plan.folds[0][0]
    sample = search._sample(train, 12, index=0)
    labels, counts = np.unique(search.y[sample], return_counts=True)
    assert set(labels) == set(search.y[train])
    assert counts.min() >= QUICK_MIN_PER_LABEL and len(sample) < len(train)
    assert np.array_equal(sample, np.unique(sample))  # sorted, no row twice


def test_a_stop_ends_a_slow_trial_in_flight_once_a_model_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck, release = threading.Event(), threading.Event()
    fit_fold = Search._fit_fold

    def slow_after_the_first_look(self, family, params, index, sample=None):  # type: ignore[no-untyped-def]
        if sample is None:  # every trial after the (sampled) first look hangs
            stuck.set()
            release.wait(60)
        return fit_fold(self, family, params, index, sample)

    monkeypatch.setattr(Search, "_fit_fold", slow_after_the_first_look)
    search = iris_search(names=["linear", "extra_trees"], seed=0)
    try:
        search.run(deadline=math.inf, should_stop=stuck.is_set, report=lambda *a: None)
        assert not release.is_set()  # it returned while the fit was still hanging
        assert len(search.trials) == 1 and search.trials[0].sampled
        assert search.ended == "asked_to_stop"
    finally:
        release.set()


# --- the run's limits, through a pipe -------------------------------------------------------

REPORT = model_report(
    task="classification",
    target="churn",
    algorithm="Extra trees",
    score_name="balanced_accuracy",
    score=0.8,
    summary="Right about 80 times out of 100.",
)
FINAL = REPORT.model_copy(update={"algorithm": "A blend of extra trees and linear model"})


@pytest.fixture(autouse=True)
def short_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's limits in tenths of seconds: the hard limit, then the safety limit."""
    monkeypatch.setattr(runner, "hard_limit_s", lambda budget: 0.3)
    monkeypatch.setattr(runner, "safety_limit_s", lambda budget: 3.0)
    monkeypatch.setattr(runner, "CANCEL_GRACE_S", 0.3)


Script = Callable[[Connection, Callable[[float], None]], None]


def follow(script: Script, cancel: bool = False) -> Outcome:
    """Run the parent's side against a child played by `script` in a thread; the script gets
    the sending end and `after(s)`, which waits until s seconds into the run."""
    receiver, sender = Pipe(duplex=False)
    run = TrainingRun(TrainingSpec("data", b"k", "d.csv", "m.joblib", "y", time_budget_s=0.1))
    began = time.monotonic()

    def after(seconds: float) -> None:
        while time.monotonic() < began + seconds:
            time.sleep(0.01)

    def play() -> None:
        try:
            script(sender, after)
        except (BrokenPipeError, OSError):
            pass  # the parent stopped listening: as a killed child would
        finally:
            sender.close()

    async def progress(fraction: float, stage: str) -> None:
        pass

    async def main() -> Outcome:
        if cancel:
            run.cancel()
        return await run._follow(receiver, progress)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        return asyncio.run(main())
    finally:
        receiver.close()
        thread.join(timeout=10)


def hang(sender: Connection, after: Callable[[float], None]) -> None:
    """Busy for ever (as far as the parent can tell), until the parent stops listening."""
    while True:
        sender.send(Progressed(0.5, "Trying different kinds of model"))
        time.sleep(0.05)


def test_the_hard_limit_waits_for_a_first_model_still_fitting() -> None:
    def script(sender: Connection, after: Callable[[float], None]) -> None:
        sender.send(Listening())
        after(1.0)  # well past the hard limit: a busy machine
        sender.send(FirstModel(REPORT))
        hang(sender, after)  # then its wrap-up never ends

    outcome = follow(script)
    assert outcome.status == "succeeded" and outcome.report == REPORT


def test_a_child_that_never_makes_a_model_is_stopped_at_the_safety_limit() -> None:
    def script(sender: Connection, after: Callable[[float], None]) -> None:
        sender.send(Listening())
        sender.send(Progressed(0.05, "Preparing the columns"))
        hang(sender, after)

    outcome = follow(script)
    assert outcome.status == "failed" and outcome.code == "timed_out"


def test_a_child_saving_its_final_model_is_not_cut_short() -> None:
    def script(sender: Connection, after: Callable[[float], None]) -> None:
        sender.send(Listening())
        sender.send(FirstModel(REPORT))
        sender.send(Saving())
        after(1.0)  # a slow disk, past the hard limit
        sender.send(Finished(FINAL))

    outcome = follow(script)
    assert outcome.status == "succeeded" and outcome.report == FINAL


@pytest.mark.parametrize(
    "end",
    [
        lambda sender: sender.send(Failed("not enough memory", "out_of_memory")),
        lambda sender: None,  # the child dies
    ],
    ids=["failed", "died"],
)
def test_a_failure_after_the_first_model_keeps_it(end: Callable[[Connection], None]) -> None:
    def script(sender: Connection, after: Callable[[float], None]) -> None:
        sender.send(Listening())
        sender.send(FirstModel(REPORT))
        end(sender)

    outcome = follow(script)
    assert outcome.status == "succeeded" and outcome.report == REPORT


def test_a_cancel_before_any_model_ends_without_one() -> None:
    def script(sender: Connection, after: Callable[[float], None]) -> None:
        sender.send(Listening())
        hang(sender, after)

    assert follow(script, cancel=True).status == "cancelled"
