"""Dates become numbers a model can use; categories become plain strings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.common.data.features import DateTimeParts, ToString, as_text, to_datetime


def test_dates_become_year_month_day_weekday_and_hour() -> None:
    X = pd.DataFrame({"signup": ["2024-03-05 14:30", None, "not a date", "2023-12-31"]})
    parts = DateTimeParts().fit(X)
    out = parts.transform(X)
    assert out.shape == (4, 5)
    assert out[0].tolist() == [2024, 3, 5, 1, 14]  # a Tuesday
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()
    assert out[3].tolist() == [2023, 12, 31, 6, 0]
    assert parts.get_feature_names_out().tolist() == [
        "signup__year",
        "signup__month",
        "signup__day",
        "signup__day_of_week",
        "signup__hour",
    ]


def test_dates_written_many_ways() -> None:
    when = to_datetime(
        pd.Series(["2024-01-02", "05.03.2023", "25.03.2023 10:30", "2024-01-02T10:00:00+02:00"])
    )
    assert [str(w) for w in when] == [
        "2024-01-02 00:00:00",
        "2023-03-05 00:00:00",  # dotted dates are day first
        "2023-03-25 10:30:00",
        "2024-01-02 08:00:00",  # time zones become UTC
    ]


def test_numbers_are_not_dates() -> None:
    assert to_datetime(pd.Series([20240101, 3])).isna().all()


def test_categories_become_strings_and_whole_floats_lose_their_point() -> None:
    X = pd.DataFrame({"code": [3.0, 4.5, np.nan], "plan": ["a", None, "b"]})
    out = ToString().fit(X).transform(X)
    assert out[:, 0].tolist()[:2] == ["3", "4.5"] and np.isnan(out[2, 0])
    assert out[0, 1] == "a" and np.isnan(out[1, 1])
    assert as_text(7.0) == "7" and as_text(True) == "True"
