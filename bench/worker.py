"""One benchmark run in a process of its own: load, split, fit one method, score, report.

`python -m bench.worker '<spec json>' <result path>`, started by bench.automl for every
(dataset, budget, method), so imports and memory never leak from one run into the next.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from bench.datasets import Dataset, load

SEED = 0
TEST_SIZE = 0.25
MAX_CATEGORIES = 255  # HistGradientBoosting's limit for a categorical feature
Predict = Callable[[pd.DataFrame], list]


def split(ds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The one fixed train/test split of a dataset, stratified for classification."""
    y = ds.frame[ds.target]
    stratify = y if ds.task == "classification" else None
    return train_test_split(ds.frame, test_size=TEST_SIZE, random_state=SEED, stratify=stratify)


def encode(train: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
    """String columns as `category` with the training rows' categories (unseen ones -> missing).

    Columns with more categories than HistGradientBoosting accepts become their integer codes.
    """
    X = X.copy()
    for column in X.columns:
        if pd.api.types.is_numeric_dtype(train[column]):
            continue
        categories = sorted(train[column].dropna().astype(str).unique())
        values = pd.Categorical(X[column].astype("string"), categories=categories)
        X[column] = values if len(categories) <= MAX_CATEGORIES else values.codes.astype(float)
    return X


def _target(ds: Dataset, train: pd.DataFrame) -> np.ndarray:
    """y as a plain NumPy array: floats for regression, numbers or Python strings as labels."""
    y = train[ds.target]
    if ds.task == "regression":
        return y.to_numpy(dtype=float)
    return y.to_numpy() if pd.api.types.is_numeric_dtype(y) else y.to_numpy(dtype=object)


def _ours(ds: Dataset, train: pd.DataFrame, budget: float) -> Predict:
    from services.trainer.domain.training import train_model

    result = train_model(train, ds.target, time_budget_s=budget, seed=SEED)
    return lambda X: result.bundle.predict_frame(X)[0]


def _flaml(ds: Dataset, train: pd.DataFrame, budget: float) -> Predict:
    from flaml import AutoML

    X, y = train.drop(columns=[ds.target]), _target(ds, train)
    automl = AutoML()
    automl.fit(encode(X, X), y, task=ds.task, time_budget=budget, seed=SEED, verbose=0)
    return lambda test: list(automl.predict(encode(X, test)))


def _hgb(ds: Dataset, train: pd.DataFrame, budget: float) -> Predict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X, y = train.drop(columns=[ds.target]), _target(ds, train)
    if ds.task == "classification":
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=SEED)
    else:
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=SEED)
    model.fit(encode(X, X), y)
    return lambda test: list(model.predict(encode(X, test)))


def _naive(ds: Dataset, train: pd.DataFrame, budget: float) -> Predict:
    y = train[ds.target]
    guess = y.mode().sort_values().iloc[0] if ds.task == "classification" else float(y.mean())
    return lambda test: [guess] * len(test)


METHODS: dict[str, Callable[[Dataset, pd.DataFrame, float], Predict]] = {
    "ours": _ours,
    "flaml": _flaml,
    "hgb": _hgb,
    "naive": _naive,
}
# Imported before the clock starts, so a method is not charged for loading its library.
IMPORTS = {"ours": "services.trainer.domain.training", "flaml": "flaml.automl", "hgb": "sklearn"}


def _label(value) -> str:
    """Labels compared as text, with 1, 1.0 and np.int64(1) all the same label."""
    number = isinstance(value, (int, float, np.integer, np.floating))
    if number and not isinstance(value, bool) and float(value).is_integer():
        return str(int(value))
    return str(value)


def score(ds: Dataset, y_true: pd.Series, predictions: list) -> float:
    """Balanced accuracy for classification, R² for regression."""
    if ds.task == "classification":
        truth = [_label(v) for v in y_true]
        return float(balanced_accuracy_score(truth, [_label(v) for v in predictions]))
    return float(r2_score(y_true.astype(float), np.asarray(predictions, dtype=float)))


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def run(spec: dict) -> dict:
    """Fit and score one method on one dataset; errors are reported, not raised."""
    report: dict = {"rows": None, "columns": None, "classes": None, "score": None}
    report |= {"inner_s": None, "predict_s": None, "error": None}
    try:
        ds = load(spec["dataset"])
        report |= {"rows": len(ds.frame), "columns": ds.frame.shape[1] - 1, "task": ds.task}
        if ds.task == "classification":
            report["classes"] = int(ds.frame[ds.target].nunique())
        train, test = split(ds)
        if spec["method"] in IMPORTS:
            importlib.import_module(IMPORTS[spec["method"]])
        started = time.monotonic()
        predict = METHODS[spec["method"]](ds, train, spec["budget"])
        report["inner_s"] = time.monotonic() - started
        started = time.monotonic()
        predictions = predict(test.drop(columns=[ds.target]))
        report["predict_s"] = time.monotonic() - started
        report["score"] = score(ds, test[ds.target], predictions)
    except Exception as exc:  # one failed run must not stop the benchmark
        traceback.print_exc()
        report["error"] = f"{type(exc).__name__}: {exc}"[:500]
    report["peak_self_mb"] = _peak_mb(resource.RUSAGE_SELF)
    report["peak_children_mb"] = _peak_mb(resource.RUSAGE_CHILDREN)
    return report


def main(argv: list[str]) -> None:
    spec, out = json.loads(argv[0]), Path(argv[1])
    out.write_text(json.dumps(run(spec)))


if __name__ == "__main__":
    main(sys.argv[1:])
