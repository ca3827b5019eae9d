"""Transformers a trained pipeline pickles, and the column preparation shared by training and
prediction.

They live in the shared package so that the predictor can unpickle a model file without
importing the trainer. Keep them module-level, plain and backwards compatible: renaming a class
here breaks every model file saved before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

DATE_PARTS = ("year", "month", "day", "day_of_week", "hour")
_DOTTED_DATE = r"^\s*\d{1,2}\.\d{1,2}\.\d{2,4}\b"


def to_datetime(values: pd.Series) -> pd.Series:
    """Parse dates written in any common way; what cannot be parsed becomes NaT.

    utc=True because a column may mix time zones; format="mixed" parses each value on its own
    without pandas' "could not infer format" warning.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    # 05.03.2023 is the 5th of March wherever dots are written (pandas reads it month first);
    # only those values are read day first, or 2024-01-02 would become the 1st of February.
    dotted = values.astype(str).str.match(_DOTTED_DATE).to_numpy(dtype=bool)
    if dotted.any():
        day_first = pd.to_datetime(
            values[dotted], errors="coerce", format="mixed", utc=True, dayfirst=True
        )
        parsed[dotted] = day_first.array  # by position: the index may repeat
    return parsed.dt.tz_localize(None)


def _frame(X) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


class _Columns(BaseEstimator, TransformerMixin):
    """Remembers the input column names so get_feature_names_out and set_output work."""

    def fit(self, X, y=None):
        X = _frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        return self


class DateTimeParts(_Columns):
    """Turn each date column into numbers a model can use: year, month, day, weekday, hour."""

    def transform(self, X):
        X = _frame(X)
        parts = []
        for name in X.columns:
            when = to_datetime(X[name])
            parts += [getattr(when.dt, part).astype("float64") for part in DATE_PARTS]
        if not parts:
            return np.empty((len(X), 0))
        return np.column_stack([p.to_numpy(dtype="float64", na_value=np.nan) for p in parts])

    def get_feature_names_out(self, input_features=None):
        names = self.feature_names_in_ if input_features is None else input_features
        return np.asarray([f"{n}__{p}" for n in names for p in DATE_PARTS], dtype=object)


class ToString(OneToOneFeatureMixin, _Columns):
    """Cast categories to plain strings, missing to NaN.

    One-hot encoding refuses a column mixing numbers and strings, and a prediction request may
    send 3 where the CSV had "3"; strings make both cases the same.
    """

    def transform(self, X):
        X = _frame(X)
        out = np.empty(X.shape, dtype=object)
        for j, name in enumerate(X.columns):
            column = X[name]
            missing = column.isna().to_numpy()
            if isinstance(column.dtype, pd.StringDtype):
                text = column.to_numpy(dtype=object)  # already strings: skip the slow map
            else:
                text = column.astype(object).map(as_text).to_numpy(dtype=object)
            out[:, j] = np.where(missing, np.nan, text)
        return out


def as_text(value) -> str:
    """A category as the string the encoder sees; 3.0 and 3 both read "3" (CSV gaps make
    whole-number columns float)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
