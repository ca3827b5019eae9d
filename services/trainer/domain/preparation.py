"""Turning the columns into numbers, in the two ways the model families need.

"trees": numbers as they are (gaps stay gaps), categories as codes, dates as their parts.
"scaled": gaps filled (and flagged), categories one-hot, everything on one scale, for the
linear and nearest-neighbour models that compare columns with each other.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from services.common.data.features import DATE_PARTS, DateTimeParts, ToString

TREES, SCALED = "trees", "scaled"
MAX_CATEGORIES = 30  # one-hot width per column stays bounded however many values a column has
MAX_CODES = 250  # gradient boosting takes at most 255 bins per column


def preparer(kind: str, features: list[dict], rows: int) -> ColumnTransformer:
    """An unfitted ColumnTransformer of the given kind for these features."""
    build = _TREE_STEPS if kind == TREES else _SCALED_STEPS
    columns = _by_kind(features)
    steps = [(k, build[k](rows), names) for k, names in columns.items() if names]
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0)


def categorical_mask(features: list[dict]) -> np.ndarray | None:
    """Which output columns of a "trees" preparer are category codes (None when none are)."""
    columns = _by_kind(features)
    if not columns["categorical"]:
        return None
    parts = [
        np.zeros(len(columns["numeric"]), bool),
        np.ones(len(columns["categorical"]), bool),
        np.zeros(len(columns["datetime"]) * len(DATE_PARTS), bool),
    ]
    return np.concatenate(parts)


def _by_kind(features: list[dict]) -> dict[str, list[str]]:
    kinds = ("numeric", "categorical", "datetime")  # output order, which categorical_mask follows
    return {kind: [f["name"] for f in features if f["kind"] == kind] for kind in kinds}


def _codes(rows: int):
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,  # a value never seen in training counts as a gap
        encoded_missing_value=np.nan,
        min_frequency=3 if rows >= 200 else None,
        max_categories=MAX_CODES,
    )
    return Pipeline([("text", ToString()), ("codes", encoder)])


def _one_hot(rows: int):
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist",  # a value never seen in training: no crash
        min_frequency=3 if rows >= 200 else None,
        max_categories=MAX_CATEGORIES,
        sparse_output=False,
    )
    fill = SimpleImputer(strategy="most_frequent", keep_empty_features=True)
    return Pipeline([("text", ToString()), ("fill", fill), ("onehot", encoder)])


def _filled_and_scaled(rows: int):
    fill = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    return Pipeline([("fill", fill), ("scale", StandardScaler())])


def _date_parts(rows: int):
    return DateTimeParts()


def _scaled_date_parts(rows: int):
    return Pipeline([("parts", DateTimeParts()), ("rest", _filled_and_scaled(rows))])


_TREE_STEPS = {
    "numeric": lambda rows: "passthrough",
    "categorical": _codes,
    "datetime": _date_parts,
}
_SCALED_STEPS = {
    "numeric": _filled_and_scaled,
    "categorical": _one_hot,
    "datetime": _scaled_date_parts,
}
