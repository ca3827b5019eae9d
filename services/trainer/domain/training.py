"""Turn a dataset into the best model we can within a time budget, and say how good it is.

For now one algorithm is tried; `algorithm_names` and the per-algorithm trials leave room for an
AutoML search that tries several and keeps the best.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from services.common.data.bundle import ModelBundle, prepare_frame
from services.common.data.describe import describe_features
from services.common.data.profiling import DatasetProfile, profile_dataset
from services.common.errors import BadInput
from services.trainer.domain import scoring
from services.trainer.domain.pipeline import (
    ALGORITHMS,
    algorithm_names,
    build_pipeline,
    fit_within,
)

Progress = Callable[[float, str], None]
HOLDOUT = 0.2
IMPORTANCE_ROWS = 2_000
# Rough throughput of gradient boosting on one laptop core pair, used to keep big files within
# the budget: rows x columns the first fit may see per second of budget.
CELLS_PER_SECOND = 150_000
MIN_ROWS_CAP = 20_000
MAX_ROUNDS = 300
SMALL_DATA_ROWS = 50_000


@dataclass
class TrainingResult:
    """Everything the trainer publishes about a finished model; bundle is what gets saved."""

    bundle: ModelBundle
    task: str
    target: str
    algorithm: str
    score_name: str
    score: float | None
    metrics: dict
    light: str
    light_reason: str
    summary: str
    leaderboard: list[dict]
    feature_importance: list[dict]
    features: list[dict]
    rows_used: int
    notes: list[str] = field(default_factory=list)


@dataclass
class _Trial:
    algorithm: str
    pipeline: Pipeline
    metrics: dict
    score: float | None
    fit_seconds: float


class _Steps:
    """Reports progress, never going backwards."""

    def __init__(self, report: Progress):
        self.report, self.done = report, 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        self.done = max(self.done, min(1.0, fraction))
        self.report(self.done, stage)


def train_model(
    df: pd.DataFrame,
    target: str | None,
    *,
    time_budget_s: float,
    progress: Progress = lambda f, s: None,
    seed: int = 0,
    algorithm: str = "auto",
) -> TrainingResult:
    """Train, check on a 20% hold-out, then retrain on every row when the budget allows.

    Raises BadInput with a plain-English detail when the data cannot be learned from.
    """
    # On small data, threads cost more than they save, and a busy machine makes them erratic.
    threads = 1 if len(df) < SMALL_DATA_ROWS else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        return _train(df, target, time_budget_s, _Steps(progress), seed, algorithm)


def _train(df, target, time_budget_s, step, seed, algorithm) -> TrainingResult:
    started = time.monotonic()
    step(0.02, "Reading your data")
    names = algorithm_names(algorithm)
    profile = profile_dataset(df, target)
    step(0.1, "Preparing the columns")
    X, y, notes = _training_data(df, profile, time_budget_s, seed)
    split = _split(X, y, profile.task, seed)
    # Leave well over half the budget for checking and for retraining on every row.
    seconds = max(1.0, (time_budget_s - (time.monotonic() - started)) * 0.4 / len(names))
    trials = []
    for i, name in enumerate(names):
        step(0.2 + 0.4 * i / len(names), "Training the model")
        trials.append(_trial(name, split, profile, seed, seconds))
    trials.sort(key=_rank)
    step(0.6, "Checking how good it is")
    importance = scoring.importance(
        trials[0].pipeline,
        split.X_test,
        split.y_test,
        seed=seed,
        max_rows=IMPORTANCE_ROWS,
        repeats=3,
    )
    pipeline = trials[0].pipeline
    if time.monotonic() - started + _refit_guess(trials[0], split) <= time_budget_s:
        step(0.75, "Training the final model on all your rows")
        pipeline = _refit(trials[0], profile, X, y, seed)
    else:
        notes.append("To stay within the time limit, the final model learned from 80% of the rows.")
    step(0.95, "Finishing up")
    result = _result(trials, profile, pipeline, X, importance, notes)
    step(1.0, "Finishing up")
    return result


def _result(trials, profile, pipeline, X, importance, notes) -> TrainingResult:
    best, task = trials[0], profile.task
    features = describe_features(X, {f["name"]: f["kind"] for f in _features(profile)})
    classes = _classes(pipeline, task)
    bundle = ModelBundle(
        pipeline=pipeline,
        task=task,
        target=profile.target,
        features=features,
        classes=classes,
        algorithm=ALGORITHMS[best.algorithm][0],
    )
    light, reason = scoring.judge(task, best.metrics, len(classes or []))
    return TrainingResult(
        bundle=bundle,
        task=task,
        target=profile.target,
        algorithm=bundle.algorithm,
        score_name="balanced_accuracy" if task == "classification" else "r2",
        score=best.score,
        metrics=best.metrics,
        light=light,
        light_reason=reason,
        summary=scoring.summarise(task, best.metrics),
        leaderboard=[_row(t) for t in trials],
        feature_importance=importance,
        features=features,
        rows_used=len(X),
        notes=notes,
    )


def _features(profile: DatasetProfile) -> list[dict]:
    return [{"name": c.name, "kind": c.kind} for c in profile.features()]


def _training_data(df: pd.DataFrame, profile: DatasetProfile, budget: float, seed: int):
    """(X, y, notes): labelled rows, sampled down when the file is too big for the budget."""
    features = _features(profile)
    if not features:
        raise BadInput(
            f"None of the other columns can be used to predict '{profile.target}'.",
            code="no_usable_columns",
        )
    data = df[df[profile.target].notna()]
    notes = []
    if profile.task == "classification":
        data, dropped = _without_single_rows(data, profile.target)
        if dropped:
            notes.append(
                f"We left out {dropped} rows whose value of '{profile.target}' appears only once."
            )
    cap = max(MIN_ROWS_CAP, int(budget * CELLS_PER_SECOND / len(features)))
    if len(data) > cap:
        notes.append(
            f"To stay within the time limit we learned from {cap:,} of {len(data):,} rows."
        )
        data = data.sample(cap, random_state=seed)
    X = prepare_frame(data, features, strict=False).reset_index(drop=True)
    return X, _labels(data[profile.target], profile.task), notes


def _without_single_rows(data: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """A value seen once can be neither learned nor checked; it also breaks a fair split."""
    counts = data[target].value_counts()
    single = counts[counts < 2].index
    kept = data[~data[target].isin(single)]
    if kept[target].nunique() < 2:
        raise BadInput(
            f"Apart from values seen only once, every row has the same '{target}', so there "
            "is nothing to learn.",
            code="one_class_only",
        )
    return kept, len(data) - len(kept)


def _labels(y: pd.Series, task: str) -> np.ndarray:
    if task == "regression":
        return pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    if pd.api.types.is_float_dtype(y) and bool((y % 1 == 0).all()):
        y = y.astype("int64")  # 1.0 / 0.0 only because the column had gaps: labels 1 / 0
    if pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return y.to_numpy()  # sklearn cannot tell an object array of ints is a set of classes
    return y.to_numpy(dtype=object)


class _Split(NamedTuple):
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


def _split(X: pd.DataFrame, y: np.ndarray, task: str, seed: int) -> _Split:
    """Hold out 20%, with every class in proportion when there are enough rows for that."""
    stratify = None
    if task == "classification":
        counts = pd.Series(y).value_counts()
        if counts.min() >= 2 and math.ceil(HOLDOUT * len(y)) >= len(counts):
            stratify = y
    return _Split(*train_test_split(X, y, test_size=HOLDOUT, random_state=seed, stratify=stratify))


def _build(name: str, profile: DatasetProfile, y, seed: int) -> Pipeline:
    features = _features(profile)
    return build_pipeline(features, profile.task, name, y=y, seed=seed, max_iter=MAX_ROUNDS)


def _refit(best: _Trial, profile: DatasetProfile, X, y, seed: int) -> Pipeline:
    """The winner again on every row, with as many rounds as it earned on the hold-out run."""
    pipeline = _build(best.algorithm, profile, y, seed)
    rounds = getattr(best.pipeline.steps[-1][1], "n_iter_", None)
    if rounds is not None:  # known now: no validation slice needed to find it again
        pipeline.steps[-1][1].set_params(max_iter=rounds, early_stopping=False)
    return pipeline.fit(X, y)


def _trial(name: str, split: _Split, profile: DatasetProfile, seed: int, seconds: float) -> _Trial:
    """Fit one algorithm on the training rows and score it on the hold-out."""
    began = time.monotonic()
    pipeline = _build(name, profile, split.y_train, seed)
    fit_within(pipeline, split.X_train, split.y_train, seconds)
    fit_seconds = time.monotonic() - began
    if profile.task == "classification":
        classes = pipeline.classes_
        proba = pipeline.predict_proba(split.X_test)
        y_pred = classes[proba.argmax(axis=1)]  # one pass over the hold-out, not two
        metrics = scoring.classification_metrics(
            split.y_test, y_pred, proba, classes, split.y_train
        )
        score = metrics["balanced_accuracy"]
    else:
        y_pred = pipeline.predict(split.X_test)
        metrics = scoring.regression_metrics(split.y_test, y_pred, split.y_train, seed)
        score = metrics["r2"]
    return _Trial(name, pipeline, metrics, score, fit_seconds)


def _refit_guess(trial: _Trial, split: _Split) -> float:
    """Seconds a refit on every row may take: a bit more than the hold-out fit, per row."""
    rows = len(split.y_train) + len(split.y_test)
    return trial.fit_seconds * 1.3 * rows / max(len(split.y_train), 1)


def _rank(trial: _Trial) -> float:
    """Sort key: best score first; a trial without a score last."""
    return math.inf if trial.score is None else -trial.score


def _classes(pipeline, task: str) -> list | None:
    if task != "classification":
        return None
    return [scoring.plain(c) for c in pipeline.classes_]


def _row(trial: _Trial) -> dict:
    return {
        "algorithm": ALGORITHMS[trial.algorithm][0],
        "score": trial.score,
        "fit_seconds": round(trial.fit_seconds, 3),
    }
