"""train_model on tiny real datasets, and the ModelBundle it produces."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from services.common.data import ModelBundle
from services.common.data.features import DateTimeParts, ToString
from services.common.errors import BadInput, Unprocessable
from services.trainer.domain import TrainingResult, train_model

N = 300


def churn_data(seed: int = 0, n: int = N) -> pd.DataFrame:
    """Churn follows plan and spend; customer_id and the signup date carry nothing."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "age": rng.integers(18, 80, n).astype(float),
            "plan": rng.choice(["basic", "pro", "max"], n),
            "signup": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "spend": rng.normal(100, 20, n).round(2),
        }
    )
    df.loc[::11, "age"] = np.nan
    df["churn"] = np.where((df["plan"] == "basic") & (df["spend"] < 110), "yes", "no")
    return df


def train(df: pd.DataFrame, target: str, **kwargs) -> TrainingResult:
    return train_model(df, target, time_budget_s=60, **kwargs)


@pytest.fixture(scope="module")
def churn() -> TrainingResult:
    return train(churn_data(), "churn")


def test_learnable_signal_beats_the_simple_guess(churn: TrainingResult) -> None:
    metrics = churn.report.metrics
    assert churn.report.task == "classification"
    assert churn.report.light in ("green", "yellow")
    assert metrics["accuracy"] > metrics["baseline"]["accuracy"]
    assert churn.report.score_name == "balanced_accuracy"
    assert churn.report.score == metrics["balanced_accuracy"] > 0.8
    assert metrics["confusion_matrix"]["labels"] == ["no", "yes"]
    # Graded on the 20% of rows kept out of the whole search.
    assert np.asarray(metrics["confusion_matrix"]["matrix"]).sum() == N // 5
    assert 0.5 < metrics["roc_auc"] <= 1
    assert churn.report.summary.startswith("Right about ")
    assert "simple guess would be right" in churn.report.summary
    assert churn.report.light_reason


def test_result_is_json_safe(churn: TrainingResult) -> None:
    fields = ("metrics", "leaderboard", "feature_importance", "features", "summary", "score")
    json.dumps({f: getattr(churn.report, f) for f in fields}, allow_nan=False)


def test_leaderboard_and_importance_use_original_columns(churn: TrainingResult) -> None:
    assert churn.report.leaderboard[0]["algorithm"] == churn.report.algorithm
    assert len({row["algorithm"] for row in churn.report.leaderboard}) >= 4  # several kinds tried
    assert all(row["fit_seconds"] >= 0 and "settings" in row for row in churn.report.leaderboard)
    names = [f["feature"] for f in churn.report.feature_importance]
    assert sorted(names) == ["age", "plan", "signup", "spend"]  # the ID is left out
    assert set(names[:2]) == {"plan", "spend"}
    scores = [f["importance"] for f in churn.report.feature_importance]
    assert scores == sorted(scores, reverse=True)


def test_features_describe_the_prediction_form(churn: TrainingResult) -> None:
    by_name = {f["name"]: f for f in churn.report.features}
    assert by_name["plan"]["kind"] == "categorical"
    assert sorted(by_name["plan"]["choices"]) == ["basic", "max", "pro"]
    assert by_name["age"]["min"] >= 18 and by_name["age"]["max"] < 80
    assert by_name["signup"]["kind"] == "datetime"
    assert by_name["signup"]["example"].startswith("2021")
    assert churn.bundle.features == churn.report.features


def test_pure_noise_is_red() -> None:
    df = churn_data(seed=1, n=400)
    df["churn"] = np.random.default_rng(5).choice(["yes", "no"], len(df))
    result = train(df, "churn", algorithm="linear")  # any model must be red; this is the quickest
    assert result.report.light == "red"


def test_regression() -> None:
    df = churn_data(seed=2)
    df["revenue"] = df["spend"] * 3 + np.where(df["plan"] == "max", 50, 0)
    result = train(df.drop(columns=["churn"]), "revenue")
    assert result.report.task == "regression"
    assert result.report.score_name == "r2"
    assert result.report.light == "green"
    assert result.report.metrics["mae"] < result.report.metrics["baseline"]["mae"]
    assert len(result.report.metrics["predicted_vs_actual"]) == N // 5
    assert "typically off by about" in result.report.summary
    predictions, probabilities = result.bundle.predict(
        [{"age": 40, "plan": "max", "spend": 100, "signup": "2021-06-01"}]
    )
    assert probabilities is None
    assert isinstance(predictions[0], float)


def test_bundle_round_trips_and_takes_messy_rows(churn: TrainingResult, tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(churn.bundle, path)
    bundle: ModelBundle = joblib.load(path)
    assert bundle.versions.keys() == {"python", "sklearn", "pandas", "numpy"}
    rows = [
        {"spend": 90, "plan": "basic", "signup": "2022-03-01", "age": 30, "churn": "no", "x": 1},
        {"plan": "pro", "spend": "150.5", "signup": "", "age": None},
        {"plan": "never seen", "spend": 120, "signup": "2020-01-01", "age": ""},
    ]
    predictions, probabilities = bundle.predict(rows)
    assert predictions[:2] == ["yes", "no"]
    assert all(isinstance(p, str) for p in predictions)
    for row in probabilities:
        assert set(row) == {"no", "yes"}
        assert sum(row.values()) == pytest.approx(1, abs=1e-5)


def test_model_file_needs_nothing_from_the_trainer(churn: TrainingResult) -> None:
    assert b"services.trainer" not in pickle.dumps(churn.bundle)


def test_missing_columns_are_named(churn: TrainingResult) -> None:
    with pytest.raises(Unprocessable) as caught:
        churn.bundle.predict([{"plan": "pro", "age": 30}])
    assert caught.value.code == "missing_columns"
    assert caught.value.status == 422
    assert "'spend'" in caught.value.detail and "'signup'" in caught.value.detail


def test_a_word_in_a_number_column_names_column_and_row(churn: TrainingResult) -> None:
    good = {"plan": "pro", "age": 30, "spend": 5, "signup": "2022-01-01"}
    with pytest.raises(Unprocessable) as caught:
        churn.bundle.predict([good, {**good, "spend": "lots"}])
    assert caught.value.code == "bad_value"
    assert "Row 2" in caught.value.detail and "'spend'" in caught.value.detail


def test_no_rows(churn: TrainingResult) -> None:
    with pytest.raises(Unprocessable) as caught:
        churn.bundle.predict([])
    assert caught.value.code == "no_rows"


def test_predict_frame_scores_a_table(churn: TrainingResult) -> None:
    df = churn_data(seed=3, n=50)
    predictions, probabilities = churn.bundle.predict_frame(df[::-1])
    assert len(predictions) == len(probabilities) == 50
    assert np.mean(np.array(predictions) == df["churn"][::-1].to_numpy()) > 0.8
    with pytest.raises(Unprocessable) as caught:
        churn.bundle.predict_frame(df.drop(columns=["plan"]))
    assert caught.value.code == "missing_columns"


def test_whole_number_labels_keep_their_type() -> None:
    df = churn_data(seed=4)
    df["tier"] = df["plan"].map({"basic": 1, "pro": 2, "max": 3}).astype(float)
    df.loc[5, "tier"] = np.nan  # a gap makes pandas store the labels as 1.0, 2.0, 3.0
    # The labels' type is the bundle's business, whatever the model: the quickest one will do.
    result = train(df.drop(columns=["plan", "churn"]), "tier", algorithm="linear")
    assert result.report.task == "classification"
    assert result.bundle.classes == [1, 2, 3]
    assert result.report.metrics["roc_auc"] is not None  # three classes: one-vs-rest
    predictions, probabilities = result.bundle.predict_frame(df.head(3))
    assert all(type(p) is int for p in predictions)
    assert set(probabilities[0]) == {"1", "2", "3"}


def test_progress_is_monotonic_and_ends_at_one() -> None:
    seen: list[tuple[float, str]] = []
    # One quick kind of model still runs every stage, and trials until more stop helping.
    train(churn_data(n=120), "churn", algorithm="linear", progress=lambda f, s: seen.append((f, s)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert 0 <= fractions[0] < 0.1 and fractions[-1] == 1.0
    assert all(stage and stage[0].isupper() for _, stage in seen)


def test_same_seed_same_model() -> None:
    df = churn_data(seed=6, n=150)
    first, second = train(df, "churn", seed=3), train(df, "churn", seed=3)
    assert first.report.metrics == second.report.metrics
    assert first.report.feature_importance == second.report.feature_importance
    rows = df.head(20)
    assert first.bundle.predict_frame(rows) == second.bundle.predict_frame(rows)


def test_nothing_to_learn_from_is_bad_input() -> None:
    df = pd.DataFrame({"id": range(50), "y": np.random.default_rng(0).normal(size=50)})
    with pytest.raises(BadInput) as caught:
        train(df, "y")
    assert caught.value.code == "no_usable_columns"


def test_unknown_algorithm_is_bad_input() -> None:
    with pytest.raises(BadInput):
        train(churn_data(n=50), "churn", algorithm="magic")


def test_transformers_name_their_outputs() -> None:
    X = pd.DataFrame({"d": ["2024-01-05 10:00", None], "c": ["x", 3.0]})
    parts = DateTimeParts().set_output(transform="pandas").fit(X[["d"]]).transform(X[["d"]])
    assert list(parts.columns) == ["d__year", "d__month", "d__day", "d__day_of_week", "d__hour"]
    assert parts.iloc[0].tolist() == [2024, 1, 5, 4, 10]
    assert parts.iloc[1].isna().all()
    text = ToString().fit(X[["c"]])
    assert text.transform(X[["c"]])[:, 0].tolist() == ["x", "3"]
    assert text.get_feature_names_out().tolist() == ["c"]
