"""The AutoML search: when it stops, what a stop keeps, blending, and the light rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from services.common.data.ensemble import Blend
from services.trainer.domain import scoring, train_model
from services.trainer.domain.search import Search
from tests.unit.test_training import churn_data


def iris_search(**kwargs) -> Search:
    df = load_iris(as_frame=True).frame
    X = df.drop(columns="target")
    features = [{"name": c, "kind": "numeric"} for c in X.columns]
    return Search(X, df["target"].to_numpy(), "classification", features, **kwargs)


def test_a_small_file_stops_when_more_trials_stop_helping() -> None:
    search = iris_search(names=["linear", "nearest_neighbours"], seed=0)
    search.run(deadline=float("inf"), should_stop=lambda: False, report=lambda *a: None)
    assert search.ended == "no_gain"
    assert 5 <= len(search.trials) < 40
    assert search.best.score > 0.9


def test_the_deadline_ends_the_search_after_the_first_trial() -> None:
    search = iris_search(names=["linear", "gradient_boosting"], seed=0)
    search.run(deadline=0.0, should_stop=lambda: False, report=lambda *a: None)
    assert len(search.trials) == 1  # something to fall back on, then nothing more
    assert search.ended == "out_of_time"


def test_a_stop_request_keeps_the_best_model_so_far() -> None:
    trials: list[int] = []
    result = train_model(
        churn_data(n=200),
        "churn",
        time_budget_s=60,
        progress=lambda f, s: trials.append(1) if "tried so far" in s else None,
        should_stop=lambda: len(trials) >= 2,
    )
    assert len(result.report.leaderboard) in (2, 3)  # two trials (and perhaps their blend)
    assert any("stopped early" in note for note in result.report.notes)
    assert any("not retrained" in note for note in result.report.notes)  # no time spent on a refit
    predictions, _ = result.bundle.predict_frame(churn_data(seed=9, n=20))
    assert len(predictions) == 20


def test_a_chosen_kind_of_model_is_the_only_one_tried() -> None:
    result = train_model(churn_data(n=200), "churn", time_budget_s=60, algorithm="linear")
    assert {row["algorithm"] for row in result.report.leaderboard} <= {
        "Linear model",
        "A blend of 2 linear model models",
        "A blend of 3 linear model models",
    }


def test_a_rare_outcome_is_still_predicted() -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    df = pd.DataFrame({"balance": rng.normal(1000, 400, n), "income": rng.normal(40, 10, n)})
    risk = 1 / (1 + np.exp(-(df["balance"] - 1900) / 120))
    df["default"] = np.where(rng.random(n) < risk, "yes", "no")
    assert (df["default"] == "yes").mean() < 0.1
    # The risk is linear in the balance: the linear model is the natural (and quickest) one.
    result = train_model(df, "default", time_budget_s=60, algorithm="linear")
    metrics = result.report.metrics
    # Always saying "no" would be right more often, and the light must not reward that.
    assert metrics["balanced_accuracy"] > 0.75
    assert result.report.light in ("green", "yellow")
    assert "spots about" in result.report.summary and "'yes'" in result.report.summary


def test_the_light_compares_with_a_simple_guess_not_a_fixed_percentage() -> None:
    matrix = {"labels": ["no", "yes"], "matrix": [[85, 0], [15, 0]]}
    always_no = {
        "accuracy": 0.85,
        "balanced_accuracy": 0.5,
        "confusion_matrix": matrix,
        "baseline": {"label": "no", "accuracy": 0.85, "balanced_accuracy": 0.5},
    }
    light, reason = scoring.judge("classification", always_no, 2)
    assert light == "red" and "'no'" in reason
    good = {**always_no, "accuracy": 0.9, "balanced_accuracy": 0.85}
    assert scoring.judge("classification", good, 2)[0] == "green"
    fair = {**always_no, "accuracy": 0.8, "balanced_accuracy": 0.65}
    assert scoring.judge("classification", fair, 2)[0] == "yellow"
    assert scoring.judge("regression", {"r2": 0.1}, 0)[0] == "red"
    assert scoring.judge("regression", {"r2": 0.4}, 0)[0] == "yellow"
    assert scoring.judge("regression", {"r2": 0.8}, 0)[0] == "green"


def test_a_blend_lines_up_members_that_missed_a_label() -> None:
    X = np.arange(12, dtype=float).reshape(-1, 1)
    full = LogisticRegression().fit(X, np.repeat(["a", "b", "c"], 4))
    partial = LogisticRegression().fit(X[:8], np.repeat(["a", "b"], 4))
    blend = Blend([full, partial], [1, 1], classes=["a", "b", "c"])
    proba = blend.predict_proba(X)
    assert proba.shape == (12, 3)
    assert proba.sum(axis=1) == pytest.approx(np.ones(12))
    assert (proba[:, 2] <= full.predict_proba(X)[:, 2]).all()  # "partial" never says "c"


def test_decision_weights_pick_the_label_most_above_its_usual_rate() -> None:
    X = np.zeros((4, 1))
    model = LogisticRegression().fit(np.arange(4.0).reshape(-1, 1), ["no", "no", "no", "yes"])
    blend = Blend([model], [1], classes=model.classes_, decision_weights=[1 / 0.75, 1 / 0.25])
    proba = np.array([[0.7, 0.3]])
    assert blend.decide(proba).tolist() == ["yes"]  # 0.3 is far above the usual 0.25
    assert len(blend.predict(X)) == 4
