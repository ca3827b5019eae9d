"""Turn a dataset into the best model we can within a time budget, and say how good it is.

The steps: understand the data, search model families and settings (search.py), blend the
best few when that helps (blending.py), learn the winners again from every row when time allows,
then judge the result against a simple guess in plain words (scoring.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import parallel_config
from threadpoolctl import threadpool_limits

from services.common.algorithms import AUTO, FAMILIES
from services.common.data.bundle import ModelBundle, prepare_frame
from services.common.data.describe import describe_features
from services.common.data.ensemble import Blend
from services.common.data.profiling import DatasetProfile, profile_dataset
from services.common.errors import BadInput
from services.common.model_report import ModelReport
from services.trainer.domain import objective, scoring
from services.trainer.domain.blending import blended_answers, decision_weights, select
from services.trainer.domain.families import CLASSIFICATION
from services.trainer.domain.search import Search, Trial

Progress = Callable[[float, str], None]
IMPORTANCE_ROWS = 1_000
# Rough throughput of gradient boosting on one laptop core pair, used to keep big files within
# the budget: rows x columns the search may see per second of budget.
CELLS_PER_SECOND = 150_000
MIN_ROWS_CAP = 20_000
SMALL_DATA_ROWS = 50_000
SEARCH_SHARE = 0.65  # of the budget; the rest is for learning from every row and explaining
FINISH_SHARE = 0.9  # the final model must be ready by then, leaving time to save it
LEADERBOARD_ROWS = 25


@dataclass
class TrainingResult:
    """A finished model: the bundle that gets saved and its report, the one definition of what
    a trained model is (services/common/model_report.py)."""

    bundle: ModelBundle
    report: ModelReport
    rows_used: int


class StoppedBeforeAnyModel(Exception):
    """Asked to stop before a single model was finished: there is nothing to keep."""


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
    algorithm: str = AUTO,
    should_stop: Callable[[], bool] = lambda: False,
    cancelled: Callable[[], bool] = lambda: False,
    on_first_model: Callable[[TrainingResult], None] | None = None,
) -> TrainingResult:
    """Search for the best model within time_budget_s seconds.

    should_stop() ends the search early, keeping the best model found so far; the first, quick
    model is made even when asked to stop before it exists: only cancelled() gives it up
    (raising StoppedBeforeAnyModel). on_first_model(result) gets that first model, complete
    and graded, as soon as it exists (while the search goes on), so the caller can keep it
    whatever happens next.

    Raises BadInput with a plain-English detail when the data cannot be learned from.
    """
    # On small data, threads cost more than they save, and a busy machine makes them erratic.
    threads = 1 if len(df) < SMALL_DATA_ROWS else None
    # Forests share the cores through joblib's threads; its default (process) backend is
    # refused inside the trainer's daemon child and would fall back to one core.
    with threadpool_limits(limits=threads, user_api="openmp"), parallel_config("threading"):
        training = _Training(time_budget_s, _Steps(progress), seed, should_stop, cancelled)
        training.on_first_model = on_first_model
        return training.run(df, target, _family_names(algorithm))


def _family_names(algorithm: str) -> list[str]:
    """The families to try: "auto" means every one we know."""
    if algorithm == AUTO:
        return list(FAMILIES)
    if algorithm not in FAMILIES:
        known = ", ".join(f"'{a}'" for a in FAMILIES)
        raise BadInput(f"We don't know the method '{algorithm}'; try 'auto' or one of {known}.")
    return [algorithm]


class _Training:
    def __init__(
        self,
        budget: float,
        step: _Steps,
        seed: int,
        should_stop: Callable[[], bool],
        cancelled: Callable[[], bool],
    ):
        self.started = time.monotonic()
        self.budget, self.step, self.seed, self.should_stop = budget, step, seed, should_stop
        self.cancelled = cancelled
        self.on_first_model: Callable[[TrainingResult], None] | None = None
        self.decision: np.ndarray | None = None  # per label, set once the blend is chosen
        self._first_look: Callable[[], None] = lambda: None

    def left(self, share: float) -> float:
        """Seconds until share of the budget is used."""
        return self.started + self.budget * share - time.monotonic()

    def run(self, df: pd.DataFrame, target: str | None, names: list[str]) -> TrainingResult:
        self.step(0.02, "Reading your data")
        profile = profile_dataset(df, target)
        self.step(0.05, "Preparing the columns")
        X, y, notes = _training_data(df, profile, self.budget, self.seed)
        search = Search(X, y, profile.task, _features(profile), names, self.seed)
        self._first_look = lambda: self._hand_over_first(search, profile, X, notes)
        self.step(0.1, "Trying different kinds of model")
        search.run(
            time.monotonic() + self.left(SEARCH_SHARE),
            self.should_stop,
            self._searching,
            cancelled=self.cancelled,
        )
        stopped = self.should_stop()
        if not search.trials:
            raise StoppedBeforeAnyModel()
        self.step(0.8, "Combining the best models")
        members = select(search)
        self.decision = decision_weights(search, members)
        model, refitted = self._final_model(search, members, stopped)
        self.step(0.88, "Checking how good it is")
        rows, answers, graded = self._grade(search, members)
        self.step(0.9, "Working out which columns matter most")
        importance = self._importance(search, graded, rows, stopped)
        self.step(0.97, "Finishing up")
        notes = notes + _search_notes(search, members, refitted, stopped)
        result = _result(search, members, model, profile, X, importance, notes, rows, answers)
        self.step(1.0, "Finishing up")
        return result

    def _hand_over_first(self, search: Search, profile, X, notes: list[str]) -> None:
        """The first model, graded like any other (on the exam rows), to the caller, which
        can keep it should the rest of the training never finish. Skipped when a stop is
        already asked: the wrap-up that follows makes the same model anyway."""
        if self.on_first_model is None or self.should_stop():
            return
        members = [(search.trials[0], 1.0)]
        self.decision = decision_weights(search, members)
        rows, answers, model = self._grade(search, members)
        notes = notes + _search_notes(search, members, refitted=False, stopped=True)
        self.on_first_model(_result(search, members, model, profile, X, [], notes, rows, answers))

    def _searching(self, done: int, expected: int, latest: Trial) -> None:
        if done == 1:
            self._first_look()
        by_time = 1 - self.left(SEARCH_SHARE) / (self.budget * SEARCH_SHARE)
        fraction = 0.1 + 0.7 * max(by_time, done / expected)
        self.step(fraction, f"Trying different kinds of model ({done} tried so far)")

    def _final_model(self, search: Search, members, stopped: bool) -> tuple[Blend, bool]:
        """The blend learned again from every row when time allows (refitted=True); else the
        models already fitted during the search (each fold's, averaged)."""
        needed = sum(search.refit_seconds(trial) for trial, _ in members)
        if not stopped and needed <= self.left(FINISH_SHARE):
            self.step(0.82, "Training the final model on all your rows")
            refitted = []
            for trial, _ in members:
                if self.should_stop():  # asked to wrap up: the fold models are ready now
                    return self._fold_blend(search, members), False
                refitted.append(search.refit(trial))
            return self._blend(search, refitted, [w for _, w in members]), True
        return self._fold_blend(search, members), False

    def _fold_blend(self, search: Search, members) -> Blend:
        """The members' fold models averaged: a model that never saw the exam rows."""
        pipelines, weights = [], []
        for trial, weight in members:
            pipelines += trial.models
            weights += [weight / len(trial.models)] * len(trial.models)
        return self._blend(search, pipelines, weights)

    def _grade(self, search: Search, members) -> tuple[np.ndarray, np.ndarray, Blend]:
        """(rows, answers, model) for the honest grade: exam rows, answered by a model that
        never saw them. Without exam rows, the blend's out-of-fold answers must do."""
        graded = self._fold_blend(search, members)
        exam = search.plan.exam
        if len(exam):
            return exam, _answers(graded, search.X.iloc[exam], search.task), graded
        return search.plan.checked, blended_answers(search, members), graded

    def _blend(self, search: Search, pipelines, weights) -> Blend:
        classes = search.classes if search.task == CLASSIFICATION else None
        return Blend(pipelines, weights, classes, self.decision)

    def _importance(self, search: Search, graded: Blend, rows, stopped: bool) -> list[dict]:
        """How much shuffling each column hurts the grade."""
        rows = rows[:IMPORTANCE_ROWS]
        X, y = search.X.iloc[rows], search.y[rows]
        began = time.monotonic()
        graded.predict(X)
        one_pass = time.monotonic() - began
        repeats = 1 if stopped else 3
        while repeats and one_pass * len(X.columns) * repeats > self.left(1.0) * 0.5:
            repeats -= 1
        return scoring.importance(
            graded, X, y, scorer=_scorer(search, self.decision), seed=self.seed, repeats=repeats
        )


def _scorer(search: Search, decision):
    def score(model, X, y) -> float:
        return objective.headline(
            search.task, y, _answers(model, X, search.task), decision, search.classes
        )

    return score


def _answers(model: Blend, X, task: str) -> np.ndarray:
    return model.predict_proba(X) if task == CLASSIFICATION else model.predict(X)


def _search_notes(search: Search, members, refitted: bool, stopped: bool) -> list[str]:
    families = {t.family.name for t in search.trials}
    models, kinds = _count(len(search.trials), "model"), _count(len(families), "kind")
    tried = f"We tried {models} of {kinds}"
    if len(members) > 1:
        notes = [f"{tried} and combined the best {len(members)}."]
    else:
        notes = [f"{tried}; {members[0][0].label.lower()} did best."]
    if stopped:
        notes.append("Training was stopped early; this is the best model found by then.")
    if not refitted:
        notes.append("To save time, the final model was not retrained on every row at the end.")
    return notes


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _result(search: Search, members, model: Blend, profile, X, importance, notes, rows, answers):
    task, y_true = search.task, search.y[rows]
    if task == CLASSIFICATION:
        labels = search.labels
        y_pred = objective.decide(labels, answers, model.decision_weights)
        metrics = scoring.classification_metrics(y_true, y_pred, answers, labels, search.y)
        score, classes = metrics["balanced_accuracy"], [scoring.plain(c) for c in labels]
    else:
        metrics = scoring.regression_metrics(y_true, answers, search.y, search.seed)
        score, classes = metrics["r2"], None
    features = describe_features(X, {f["name"]: f["kind"] for f in search.features})
    algorithm = _algorithm_name(members)
    bundle = ModelBundle(
        pipeline=model,
        task=task,
        target=profile.target,
        features=features,
        classes=classes,
        algorithm=algorithm,
    )
    light, reason = scoring.judge(task, metrics, len(classes or []))
    # Validated as it is built: task and light are plain strings in the search.
    report = ModelReport.model_validate(
        {
            "task": task,
            "target": profile.target,
            "features": features,
            "classes": classes,
            "versions": dict(bundle.versions),
            "algorithm": algorithm,
            "score_name": "balanced_accuracy" if task == CLASSIFICATION else "r2",
            "score": score,
            "metrics": metrics,
            "light": light,
            "light_reason": reason,
            "summary": scoring.summarise(task, metrics),
            "leaderboard": _leaderboard(search, members, score),
            "feature_importance": importance,
            "notes": notes,
        }
    )
    return TrainingResult(bundle=bundle, report=report, rows_used=len(X))


def _algorithm_name(members: list[tuple[Trial, float]]) -> str:
    if len(members) == 1:
        return members[0][0].label
    labels = list(dict.fromkeys(t.label.lower() for t, _ in members))
    if len(labels) == 1:
        return f"A blend of {len(members)} {labels[0]} models"
    return f"A blend of {', '.join(labels[:-1])} and {labels[-1]}"


def _leaderboard(search: Search, members, score) -> list[dict]:
    rows = [
        {
            "algorithm": t.label,
            "score": scoring.number(t.score),
            "fit_seconds": round(t.seconds, 3),
            "settings": t.params,
        }
        for t in search.ranked()[:LEADERBOARD_ROWS]
    ]
    if len(members) > 1:
        blend = {
            "algorithm": _algorithm_name(members),
            "score": scoring.number(score),
            "fit_seconds": round(sum(t.seconds for t, _ in members), 3),
            "settings": [{"algorithm": t.label, "weight": round(w, 3)} for t, w in members],
        }
        rows.insert(0, blend)
    return rows


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
