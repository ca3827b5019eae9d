"""Columns that give the answer away are flagged and left out; strong honest columns are not."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from services.common.data import profile_dataset
from services.common.data.leaks import leaking_columns
from tests.support import churn_csv, prices_csv

N = 400


def customers(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Churn that follows tenure and plan, with noise: learnable, far from perfect."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "premium"], n)
    score = -0.05 * tenure + (plan == "basic") + rng.normal(0, 0.7, n)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "plan": plan,
            "spend": rng.normal(70, 20, n).round(2),
            "churn": np.where(score > np.median(score), "yes", "no"),
        }
    )


def leaks_of(df: pd.DataFrame, target: str) -> list[str]:
    profile = profile_dataset(df, target)
    flagged = [c.name for c in profile.columns if c.leaks_target]
    assert not set(flagged) & {c.name for c in profile.features()}  # flagged: left out
    return flagged


def test_a_date_filled_in_only_for_churners_is_left_out_with_a_red_note() -> None:
    df = customers()
    dates = pd.date_range("2023-01-01", periods=N, freq="D").strftime("%Y-%m-%d")
    df.insert(2, "cancel_date", np.where(df["churn"] == "yes", dates, None))
    profile = profile_dataset(df, "churn")
    assert [c.name for c in profile.columns if c.leaks_target] == ["cancel_date"]
    assert [c.name for c in profile.features()] == ["tenure", "plan", "spend"]
    assert profile.light == "red"
    assert (
        "'cancel_date' gives the answer away almost perfectly: it was probably filled in after "
        "the fact. We'll leave it out." in profile.messages
    )
    assert "from 3 other columns" in profile.messages[0]


def test_a_code_that_maps_to_the_label_is_a_leak() -> None:
    df = customers()
    rng = np.random.default_rng(1)
    codes = {"yes": ["C1", "C2"], "no": ["A1", "A2", "A3"]}
    df["status_code"] = [rng.choice(codes[label]) for label in df["churn"]]
    assert leaks_of(df, "churn") == ["status_code"]


def test_a_number_code_with_many_labels_is_a_leak() -> None:
    df = customers()
    rng = np.random.default_rng(2)
    df["segment"] = rng.choice(["a", "b", "c", "d", "e", "f"], N)
    df["segment_no"] = df["segment"].map(dict(zip("abcdef", [4, 1, 6, 2, 5, 3], strict=True)))
    assert leaks_of(df, "segment") == ["segment_no"]


def test_a_threshold_on_a_number_that_decides_the_label_is_a_leak() -> None:
    df = customers()
    df["days_since_cancel"] = np.where(
        df["churn"] == "yes", np.random.default_rng(3).uniform(1, 90, N), -1.0
    )
    assert leaks_of(df, "churn") == ["days_since_cancel"]


def test_near_perfect_with_a_few_mistakes_is_still_a_leak() -> None:
    df = customers(n=1000)
    flag = (df["churn"] == "yes").to_numpy().copy()
    flag[:3] = ~flag[:3]  # 0.3% mislabelled
    df["closed"] = np.where(flag, "Y", "N")
    assert leaks_of(df, "churn") == ["closed"]


def test_regression_target_times_twelve_is_a_leak() -> None:
    rng = np.random.default_rng(4)
    size = rng.uniform(30, 200, N)
    monthly = size * 10 + rng.normal(0, 300, N)
    df = pd.DataFrame(
        {"size": size, "rooms": rng.integers(1, 6, N), "yearly": monthly * 12, "monthly": monthly}
    )
    assert leaks_of(df, "monthly") == ["yearly"]


def test_regression_monotone_transform_and_category_copy_are_leaks() -> None:
    rng = np.random.default_rng(5)
    price = rng.choice(np.arange(100, 3100, 100), N).astype(float)
    df = pd.DataFrame(
        {
            "size": price / 10 + rng.normal(0, 60, N),
            "log_price": np.log(price),
            "band": [f"band {int(p) // 100}" for p in price],
            "price": price,
        }
    )
    assert leaks_of(df, "price") == ["log_price", "band"]


def test_the_only_column_is_never_left_out() -> None:
    x = np.arange(50, dtype=float)
    df = pd.DataFrame({"monthly": x * 3 + 1, "yearly": x * 36 + 12})
    assert leaks_of(df, "yearly") == []
    assert leaking_columns(df, "yearly", "regression", {"monthly": "numeric"}) == []


def test_when_every_column_gives_the_answer_away_none_is_left_out() -> None:
    x = np.arange(50, dtype=float)
    df = pd.DataFrame({"a": x * 3, "b": x + 7, "y": x})
    assert leaks_of(df, "y") == []


@pytest.mark.parametrize(
    ("load", "task"),
    [
        (datasets.load_iris, "classification"),  # petal length alone: ~0.95
        (datasets.load_wine, "classification"),
        (datasets.load_breast_cancer, "classification"),  # 'worst perimeter' alone: ~0.9
        (datasets.load_diabetes, "regression"),
        (datasets.load_digits, "classification"),
    ],
)
def test_strong_honest_columns_are_not_leaks(load, task: str) -> None:
    df = load(as_frame=True).frame
    profile = profile_dataset(df, "target")
    assert profile.task == task
    assert [c.name for c in profile.columns if c.leaks_target] == []
    assert not any("gives the answer away" in m for m in profile.messages)


@pytest.mark.parametrize(("content", "target"), [(churn_csv(), "churn"), (prices_csv(), "price")])
def test_the_demo_files_have_no_leaks(content: bytes, target: str) -> None:
    df = pd.read_csv(io.BytesIO(content))
    assert leaks_of(df, target) == []


def test_noisy_learnable_data_has_no_leaks() -> None:
    assert leaks_of(customers(n=3000), "churn") == []


def test_big_files_are_judged_on_a_sample_quickly() -> None:
    rng = np.random.default_rng(6)
    n = 50_000
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(20)})
    df["y"] = rng.choice(["a", "b"], n)
    df["copy"] = df["y"].map({"a": 0, "b": 1})
    kinds = {c: "numeric" for c in df.columns if c != "y"}
    assert leaking_columns(df, "y", "classification", kinds) == ["copy"]
