"""The scikit-learn pipeline a model file holds.

Algorithms are looked up by name so that an AutoML search can later try several.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from services.common.data.features import DateTimeParts, ToString
from services.common.errors import BadInput

ROUNDS_PER_STEP = 25  # boosting rounds added between two looks at the clock
MAX_CATEGORIES = 30  # one-hot width per column stays bounded however many values a column has
EARLY_STOPPING_ROWS = 1_000  # below this, holding out a validation slice costs more than it saves


def _gradient_boosting(task: str, y: np.ndarray, seed: int, max_iter: int):
    rows = len(y)
    early = rows >= EARLY_STOPPING_ROWS
    if task == "classification":
        # Its validation slice is stratified: impossible with a class seen only once.
        early = early and pd.Series(y).value_counts().min() >= 2
        cls = HistGradientBoostingClassifier
    else:
        cls = HistGradientBoostingRegressor
    return cls(
        max_iter=max_iter,
        early_stopping=early,
        min_samples_leaf=int(np.clip(rows // 20, 2, 20)),  # tiny data needs small leaves
        random_state=seed,
    )


# name -> (what the leaderboard shows, factory(task, y, seed, max_iter))
ALGORITHMS: dict[str, tuple[str, Callable]] = {
    "gradient_boosting": ("Gradient boosting", _gradient_boosting),
}


def algorithm_names(algorithm: str) -> list[str]:
    """The algorithms to try for a request: "auto" means every one we know."""
    if algorithm == "auto":
        return list(ALGORITHMS)
    if algorithm not in ALGORITHMS:
        known = ", ".join(f"'{a}'" for a in ALGORITHMS)
        raise BadInput(f"We don't know the method '{algorithm}'; try one of {known}.")
    return [algorithm]


def build_pipeline(
    features: list[dict], task: str, algorithm: str, *, y: np.ndarray, seed: int, max_iter: int
) -> Pipeline:
    """Prepare each column by its kind, then the named algorithm, sized for the labels y."""
    rows = len(y)
    names = {kind: [f["name"] for f in features if f["kind"] == kind] for kind in _PREPARERS}
    steps = [(kind, _PREPARERS[kind](rows), cols) for kind, cols in names.items() if cols]
    prepare = ColumnTransformer(steps, remainder="drop", sparse_threshold=0)
    _, factory = ALGORITHMS[algorithm]
    return Pipeline([("prepare", prepare), ("model", factory(task, y, seed, max_iter))])


def fit_within(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, seconds: float) -> Pipeline:
    """Fit, adding boosting rounds a few at a time until done, stopped early or out of time.

    A model without warm start (a later algorithm, say) is simply fitted.
    """
    deadline = time.monotonic() + seconds
    model = pipeline.steps[-1][1]
    if not {"warm_start", "max_iter"} <= set(model.get_params()):
        return pipeline.fit(X, y)
    Xt = pipeline[:-1].fit_transform(X, y)  # the slice shares (and so fits) the same steps
    limit = model.max_iter
    model.set_params(warm_start=True, max_iter=min(ROUNDS_PER_STEP, limit))
    while True:
        model.fit(Xt, y)
        finished = model.n_iter_ < model.max_iter or model.max_iter >= limit
        if finished or time.monotonic() >= deadline:
            break
        model.set_params(max_iter=min(model.max_iter + ROUNDS_PER_STEP, limit))
    model.set_params(warm_start=False, max_iter=model.n_iter_)
    return pipeline


def _numeric(rows: int):
    return SimpleImputer(strategy="median", keep_empty_features=True)


def _categorical(rows: int):
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist",  # a value never seen in training: no crash
        min_frequency=3 if rows >= 200 else None,
        max_categories=MAX_CATEGORIES,
        sparse_output=False,
    )
    fill = SimpleImputer(strategy="most_frequent", keep_empty_features=True)
    return Pipeline([("text", ToString()), ("fill", fill), ("onehot", encoder)])


def _datetime(rows: int):
    fill = SimpleImputer(strategy="median", keep_empty_features=True)
    return Pipeline([("parts", DateTimeParts()), ("fill", fill)])


_PREPARERS = {"numeric": _numeric, "categorical": _categorical, "datetime": _datetime}
