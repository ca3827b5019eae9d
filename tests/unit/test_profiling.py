"""Column kinds, the task rule, target errors and the data's light and notes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.common.data import infer_kind, infer_task, profile_dataset
from services.common.data.profiling import _wide_notes
from services.common.errors import BadInput

N = 200
rng = np.random.default_rng(0)


def frame(n: int = N, **extra) -> pd.DataFrame:
    data = {
        "age": rng.integers(18, 80, n),
        "plan": rng.choice(["basic", "pro"], n),
        "spend": rng.normal(100, 10, n),
        "churn": rng.choice(["yes", "no"], n),
    }
    return pd.DataFrame({**data, **extra})


@pytest.mark.parametrize(
    ("values", "name", "kind"),
    [
        (np.random.default_rng(1).normal(size=50), "spend", "numeric"),
        (np.arange(50) * 7 % 50 + 1000, "amount", "numeric"),  # unique but not an id
        (["a", "b", "c", "a", "b"] * 10, "plan", "categorical"),
        ([True, False] * 25, "active", "categorical"),
        ([f"C{i:03d}" for i in range(50)], "customer", "identifier"),
        (list(range(1, 51)), "row", "identifier"),  # a row number
        (list(range(1971, 2021)), "year", "numeric"),  # one row per year: a trend, not an id
        (list(range(100, 150))[::-1], "customer_id", "identifier"),
        (list(range(100, 150))[::-1], "CustomerID", "identifier"),
        ([3, 5, 3, 7, 5] * 10, "store_id", "categorical"),
        ([5] * 50, "country", "constant"),
        ([None] * 50, "empty", "constant"),
        (["x"] * 49 + [None], "flag", "constant"),
        ([f"2024-01-{d:02d}" for d in range(1, 26)] * 2, "signup", "datetime"),
        ([f"{d:02d}/03/2023 10:{d:02d}" for d in range(1, 26)] * 2, "when", "datetime"),
        ([f"customer number {i} said the product was great" for i in range(50)], "note", "text"),
        (["1.5", "2", "3.25", None, "4"] * 10, "price", "numeric"),
        (["Yes", "No", None] * 20, "active", "categorical"),
        ([0, 1] * 25, "churned", "numeric"),
        (list(range(0, 50)), "n", "identifier"),  # a row number from 0
        ([f"{d:02d}.03.2023" for d in range(1, 26)] * 2, "day", "datetime"),
        (["2024-01-02T10:00:00Z", "2024-02-03T11:30:00+01:00"] * 25, "at", "datetime"),
        ([1.5, np.nan] * 25, "half", "constant"),
    ],
)
def test_infer_kind(values, name: str, kind: str) -> None:
    assert infer_kind(pd.Series(values, name=name)) == kind


def test_datetime_dtype_is_datetime() -> None:
    when = pd.Series(pd.date_range("2024-01-01", periods=20, freq="h"), name="t")
    assert infer_kind(when) == "datetime"


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([True, False] * 50, "classification"),
        (["yes", "no"] * 50, "classification"),
        (["red", "green", "blue", "grey"] * 25, "classification"),
        ([0, 1] * 10, "classification"),
        ([1, 2, 3] * 100, "classification"),  # a few codes in many rows
        (list(range(100)), "regression"),
        (np.random.default_rng(2).normal(size=100), "regression"),
        ([1, 2, 3, 4, 5] * 10, "classification"),  # a 1-5 rating, each value repeated
        ([1, 2, 3] * 8, "classification"),  # codes in a small file
        ([0, 1, 2, 3, 4] * 4, "classification"),  # a 0-4 rating in 20 rows
        (list(range(11)) * 3, "classification"),  # a 0-10 score
        (list(range(15)) * 2, "regression"),  # more values than codes usually take
        ([1, 2, 3, 4] * 5 + [9], "regression"),  # a value seen once: an amount, not a code
        ([1.5, 2.5, 3.5] * 10, "regression"),  # few values, but not whole numbers
        ([1.0, 2.0, np.nan] * 100, "classification"),
        (["Yes", "No"] * 50, "classification"),
        (["True", "False"] * 50, "classification"),
        ([0.0, 1.0] * 50, "classification"),
        (["1", "2", "3"] * 100, "classification"),  # codes written as text
        ([1, 2, 3, 4, 5, 6, 7] * 40, "classification"),  # a 1-7 rating in 280 rows
        (["low", "medium", "high"] * 30, "classification"),
        (np.random.default_rng(3).integers(100, 5000, 300), "regression"),  # prices in whole euros
        (np.random.default_rng(4).integers(1, 40, 300) * 50.0, "regression"),  # many round prices
        (["12.5", "3.25", "7.0", "1.75"] * 25, "regression"),  # decimals as text
    ],
)
def test_infer_task(values, task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_target_defaults_to_the_last_column() -> None:
    profile = profile_dataset(frame(), None)
    assert profile.target == "churn"
    assert profile.task == "classification"
    assert profile.rows == N
    assert [c.name for c in profile.columns] == ["age", "plan", "spend", "churn"]
    assert profile.light == "green"
    assert profile.messages == [
        "We'll learn to predict 'churn' (2 possible values) from 3 other columns."
    ]


def test_column_profiles_count_missing_and_unique() -> None:
    df = frame()
    df.loc[:9, "age"] = np.nan
    column = profile_dataset(df, "churn").columns[0]
    assert (column.kind, column.missing) == ("numeric", 10)
    assert column.unique == df["age"].nunique()


def test_regression_target() -> None:
    profile = profile_dataset(frame(), "spend")
    assert profile.task == "regression"
    assert "the number 'spend'" in profile.messages[0]


def test_unknown_target_names_it_and_lists_columns() -> None:
    with pytest.raises(BadInput) as caught:
        profile_dataset(frame(), "revenue")
    assert caught.value.code == "target_missing"
    assert "'revenue'" in caught.value.detail
    assert "'age'" in caught.value.detail


def test_one_class_only() -> None:
    with pytest.raises(BadInput) as caught:
        profile_dataset(frame(churn=["no"] * N), "churn")
    assert caught.value.code == "one_class_only"


def test_too_few_labelled_rows() -> None:
    churn = ["yes", "no"] * 4 + [None] * (N - 8)
    with pytest.raises(BadInput) as caught:
        profile_dataset(frame(churn=churn), "churn")
    assert caught.value.code == "too_few_rows"


def test_gaps_ids_and_missing_targets_are_noted_in_plain_words() -> None:
    df = frame(customer_id=[f"C{i}" for i in range(N)], country=["FR"] * N)
    df.loc[:4, "age"] = np.nan
    df.loc[:2, "spend"] = np.nan
    df.loc[10:21, "churn"] = None
    profile = profile_dataset(df, "churn")
    assert profile.light == "yellow"
    assert "2 columns have gaps; we'll fill them in." in profile.messages
    assert "We'll ignore 'customer_id' because it's just an ID." in profile.messages
    assert "We'll ignore 'country' because it has the same value in every row." in profile.messages
    assert "12 rows have no value for 'churn' and will be left out." in profile.messages
    assert [c.name for c in profile.features()] == ["age", "plan", "spend"]


def test_imbalance_is_yellow() -> None:
    churn = ["yes"] * 10 + ["no"] * (N - 10)
    profile = profile_dataset(frame(churn=churn), "churn")
    assert profile.light == "yellow"
    assert any("5% of rows have 'yes'" in m for m in profile.messages)


def test_rare_class_is_red() -> None:
    churn = ["yes"] * 3 + ["no"] * (N - 3)
    profile = profile_dataset(frame(churn=churn), "churn")
    assert profile.light == "red"
    assert any("'yes' appears in only 3 rows" in m for m in profile.messages)


def test_few_rows_is_red() -> None:
    profile = profile_dataset(frame(n=20, churn=["yes", "no"] * 10), "churn")
    assert profile.light == "red"
    assert any("very few" in m for m in profile.messages)


def test_nothing_usable_is_red() -> None:
    df = pd.DataFrame({"id": range(50), "y": rng.normal(size=50)})
    profile = profile_dataset(df, "y")
    assert profile.light == "red"
    assert profile.features() == []


def test_messages_avoid_jargon() -> None:
    df = frame(customer_id=[f"C{i}" for i in range(N)])
    df.loc[:4, "age"] = np.nan
    text = " ".join(profile_dataset(df, "churn").messages).lower()
    for word in ("impute", "classification", "regression", "nan", "dtype", "feature"):
        assert word not in text


def test_an_id_like_target_is_refused_with_a_reason() -> None:
    frame = pd.DataFrame({"size": range(40), "name": [f"person {i}" for i in range(40)]})
    with pytest.raises(BadInput) as caught:
        profile_dataset(frame, "name")
    assert caught.value.code == "target_not_learnable" and "'name'" in caught.value.detail


def test_the_default_target_skips_a_trailing_id_column() -> None:
    frame = pd.DataFrame(
        {"x": range(40), "churn": ["yes", "no"] * 20, "ref": [f"R{i:04d}" for i in range(40)]}
    )
    assert profile_dataset(frame, None).target == "churn"


def test_several_rare_values_are_named() -> None:
    churn = ["maybe"] * 2 + ["later"] * 3 + ["yes", "no"] * ((N - 5) // 2) + ["no"]
    profile = profile_dataset(frame(churn=churn), "churn")
    assert profile.light == "red"
    assert (
        "'later' and 'maybe' each appear in fewer than 5 rows of 'churn', too few to learn them."
        in profile.messages
    )


def test_many_columns_for_few_rows_is_yellow() -> None:
    wide = {f"m{i}": rng.normal(size=N) for i in range(25)}
    profile = profile_dataset(frame(**wide), "churn")
    assert profile.light == "yellow"
    assert (
        "There are many columns (28) for so few rows (200); the model may pick up chance patterns."
        in profile.messages
    )
    assert not any("many columns" in m for m in profile_dataset(frame(), "churn").messages)


def test_very_many_columns_is_yellow_however_many_rows() -> None:
    (light, message), *_ = _wide_notes(columns=501, labelled=1_000_000)
    assert light == "yellow" and message.startswith("There are very many columns (501);")
    assert _wide_notes(columns=500, labelled=1_000_000) == []


def test_row_numbers_and_constants_are_left_out() -> None:
    df = frame(row=range(1, N + 1), source=["crm"] * N)
    profile = profile_dataset(df, "churn")
    assert [c.name for c in profile.features()] == ["age", "plan", "spend"]
    assert "We'll ignore 'row' because it's just an ID." in profile.messages
    assert "We'll ignore 'source' because it has the same value in every row." in profile.messages


def test_a_few_coded_whole_numbers_are_categories_with_a_note() -> None:
    df = pd.DataFrame({"x": rng.normal(size=36), "grade": [1, 2, 3] * 12})
    profile = profile_dataset(df, "grade")
    assert profile.task == "classification"  # 36 rows: too few for the many-rows rule
    assert (
        "'grade' holds only a few whole numbers (1, 2 and 3), so we'll treat them as categories "
        "and predict which one applies, rather than an amount." in profile.messages
    )


def test_a_rating_scale_is_named_by_its_range() -> None:
    df = pd.DataFrame({"x": rng.normal(size=66), "score": list(range(11)) * 6})
    profile = profile_dataset(df, "score")
    assert profile.task == "classification"
    assert any("(from 0 to 10)" in m for m in profile.messages)


def test_labels_and_counts_get_no_coding_note() -> None:
    assert not any("whole numbers" in m for m in profile_dataset(frame(), "churn").messages)
    counts = pd.DataFrame({"x": rng.normal(size=N), "visits": rng.integers(0, 400, N)})
    profile = profile_dataset(counts, "visits")
    assert profile.task == "regression"
    assert not any("whole numbers" in m for m in profile.messages)


def test_notes_from_reading_the_file_are_shown_and_light_yellow() -> None:
    df = frame()
    df.attrs["notes"] = ["One column has no name in the file, so we called it 'column 3'."]
    profile = profile_dataset(df, "churn")
    assert profile.messages[1] == df.attrs["notes"][0]
    assert profile.light == "yellow"
