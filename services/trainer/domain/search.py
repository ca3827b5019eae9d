"""Try model families and settings within a time budget, judging each on rows it did not
learn from: cross-validation for small data, one held-out slice for large data.

Every trial keeps its answers for the rows it did not see (out-of-fold answers), so trials can
be ranked and blended fairly; the best few also keep their fitted models, so a usable model
exists from the first finished trial on, whatever stops the search.

The first trial is a quick look (cheap settings fitted on a row sample, judged on the same rows
as every other trial), so that model exists within seconds whatever the file's size. Once it
does, a stop request or the deadline ends the trial in flight at once: the wrap-up never waits
for a slow fit.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from services.trainer.domain import objective
from services.trainer.domain.families import (
    CLASSIFICATION,
    Context,
    Family,
    first_look,
    portfolio,
)
from services.trainer.domain.preparation import categorical_mask, preparer

CV_MAX_ROWS = 10_000  # up to here, 5-fold cross-validation; beyond, one 20% hold-out
FOLDS = 5
HOLDOUT = 0.2  # of the rows for the exam, and of the rest for checking large data
EXAM_MIN_ROWS = 50  # below this, the out-of-fold answers must serve as the grade
KEEP_MODELS = 8  # the best trials keep their fitted models, for blending and as a fallback
PATIENCE = 5  # drawn trials without improvement before more time is judged not to help
MIN_GAIN = 1e-4
MAX_SKIPPED = 30  # settings in a row judged too slow: the time left fits nothing more
QUICK_ROWS = 2_000  # the first look learns from at most this many rows per fold...
QUICK_MIN_PER_LABEL = 5  # ...and at least this many of each label (all of a rarer one)
POLL_S = 0.1  # how often a trial in flight checks for a stop request


@dataclass
class Trial:
    family: Family
    params: dict
    answers: np.ndarray  # out-of-fold probabilities (classification) or numbers
    objective: float
    score: float | None
    seconds: float
    models: list[Pipeline] | None = None  # one per fold, while among the best
    sampled: bool = False  # the quick first look: fitted on a row sample of each fold

    @property
    def label(self) -> str:
        return self.family.label


@dataclass
class Plan:
    """How trials are judged: which rows each fold learns from and which it is checked on.

    The exam rows are kept out of the whole search: the blend chosen by looking at the checked
    rows is then graded on rows nobody looked at, so the score we report is an honest one.
    """

    folds: list[tuple[np.ndarray, np.ndarray]]
    checked: np.ndarray  # rows with an out-of-fold answer
    exam: np.ndarray  # rows for the final, honest grade (empty for very small data)


@dataclass
class Search:
    X: pd.DataFrame
    y: np.ndarray
    task: str
    features: list[dict]
    names: list[str]
    seed: int
    classes: np.ndarray | None = None
    trials: list[Trial] = field(default_factory=list)
    ended: str = ""  # why the search ended: no_gain, out_of_time or asked_to_stop

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.plan = make_plan(self.y, self.task, self.seed)
        self.weights: np.ndarray | None = None  # per label, for decisions (classification)
        if self.task == CLASSIFICATION:
            self.classes = np.unique(self.y)
            counts = pd.Series(self.y).value_counts()
            self.weights = objective.decision_weights(self.y, self.classes)
            smallest = int(counts.min())
        else:
            smallest = len(self.y)
        train_rows = len(self.plan.folds[0][0])
        self.context = Context(
            self.task, train_rows, smallest, categorical_mask(self.features), self.seed
        )
        self._prepared: dict[tuple[str, int, int | None], tuple] = {}
        self._seconds_per_cost: list[float] = []

    # -- running -------------------------------------------------------------------------
    def run(
        self,
        deadline: float,
        should_stop: Callable[[], bool],
        report: Callable,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        """Try settings until the deadline, a stop request, or more trials stop helping.

        The first (quick) trial is always finished, even past the deadline or when asked to
        stop: a job with a model beats one without. Only cancelled() gives it up.
        report(trials done, trials expected, latest trial) after each trial.
        """
        workers = min(os.cpu_count() or 1, len(self.plan.folds))
        self._pool = ThreadPoolExecutor(workers)
        self._workers = workers
        try:
            with warnings.catch_warnings():
                # Too few iterations to converge on a hard fold is still a usable answer.
                warnings.simplefilter("ignore", ConvergenceWarning)
                self._run(deadline, should_stop, report, cancelled)
        finally:
            # A fit given up on cannot be interrupted: let it end in the background, unwaited.
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(
        self,
        deadline: float,
        should_stop: Callable[[], bool],
        report: Callable,
        cancelled: Callable[[], bool],
    ) -> None:
        queue = [first_look(self.names), *portfolio(self.names, self.task, self.context.rows)]
        expected = len(queue) + PATIENCE
        since_best = skipped = 0
        self.ended = "out_of_time"
        while True:
            if cancelled() or (should_stop() and self.trials):
                self.ended = "asked_to_stop"
                break
            if skipped >= MAX_SKIPPED:
                break
            if not queue:
                if since_best >= PATIENCE:
                    self.ended = "no_gain"  # more time would not help
                    break
                queue.append(self._draw())
            family, params = queue.pop(0)
            if self._tried(family, params):
                skipped += 1
                continue
            now = time.monotonic()
            if self.trials and now >= deadline:
                break
            if self.trials and now + self._expected_seconds(family, params) > deadline:
                skipped += 1  # too slow for the time left; cheaper settings may still fit
                continue
            best = self.best.objective if self.trials else -math.inf
            if self.trials:
                trial = self._try(family, params, deadline, should_stop)
            else:
                trial = self._try(family, params, math.inf, cancelled, sample=QUICK_ROWS)
            if trial is None:
                # Past the deadline or asked to stop mid-trial: the trials so far must do.
                self.ended = "asked_to_stop" if should_stop() or cancelled() else self.ended
                break
            since_best = 0 if trial.objective > best + MIN_GAIN else since_best + 1
            skipped = 0
            report(len(self.trials), max(expected, len(self.trials) + PATIENCE - since_best), trial)

    def _tried(self, family: Family, params: dict) -> bool:
        return any(t.family is family and t.params == params and not t.sampled for t in self.trials)

    @property
    def best(self) -> Trial:
        return max(self.trials, key=lambda t: t.objective)

    def ranked(self) -> list[Trial]:
        return sorted(self.trials, key=lambda t: -t.objective)

    @property
    def labels(self) -> np.ndarray:
        """The classes of a classification search, in probability column order."""
        if self.classes is None:
            raise ValueError(f"a {self.task} search has no classes")
        return self.classes

    # -- one trial -----------------------------------------------------------------------
    def _try(
        self,
        family: Family,
        params: dict,
        deadline: float,
        give_up: Callable[[], bool],
        sample: int | None = None,
    ) -> Trial | None:
        """Fit and check the settings on every fold; None if the deadline passes or give_up()
        turns true meanwhile. `sample`: learn from at most that many rows of each fold.

        Folds are fitted side by side on the machine's cores, a batch at a time.
        """
        began = time.monotonic()
        answers = self._empty_answers()
        models = []
        folds = list(range(len(self.plan.folds)))
        for index in folds:
            self._prepared_fold(family.prep, index, sample)  # once, before any thread reads them
        for start in range(0, len(folds), self._workers):
            batch = folds[start : start + self._workers]
            futures = [
                self._pool.submit(self._fit_fold, family, params, index, sample) for index in batch
            ]
            if not _finished(futures, deadline, give_up):
                return None
            for index, future in zip(batch, futures, strict=True):
                pipeline, answer = future.result()
                answers[self.plan.folds[index][1]] = answer
                models.append(pipeline)
        seconds = time.monotonic() - began
        if sample is None:  # a sampled fit says little about the time of a full one
            self._seconds_per_cost.append(seconds / self._cost(family, params))
        checked = self.plan.checked
        truth, given = self.y[checked], answers[checked]
        value = objective.value(self.task, truth, given, self.weights, self.classes)
        score = objective.headline(self.task, truth, given, self.weights, self.classes)
        trial = Trial(family, params, answers, value, score, seconds, models, sample is not None)
        self.trials.append(trial)
        self._keep_only_best_models()
        return trial

    def _fit_fold(
        self, family: Family, params: dict, index: int, sample: int | None = None
    ) -> tuple[Pipeline, np.ndarray]:
        prepare, X_train, X_check, rows = self._prepared_fold(family.prep, index, sample)
        model = family.build(params, self.context if sample is None else self._sampled(rows))
        # The OpenMP thread limit is per thread: folds fitted side by side must each keep to
        # one, or they fight over the cores (and OpenMP's busy-waiting makes that very slow).
        # So does the quick first look: on a busy machine, spinning threads would make it slow.
        one = self._workers > 1 or sample is not None
        with threadpool_limits(limits=1 if one else None, user_api="openmp"):
            model.fit(X_train, self.y[rows])
        return Pipeline([("prepare", prepare), ("model", model)]), self._answer(model, X_check)

    def _sampled(self, rows: np.ndarray) -> Context:
        """What building a model needs to know, for a fit on a sample of the rows."""
        smallest = len(rows)
        if self.task == CLASSIFICATION:
            smallest = int(pd.Series(self.y[rows]).value_counts().min())
        return Context(self.task, len(rows), smallest, self.context.categorical, self.seed)

    def _answer(self, model, X) -> np.ndarray:
        if self.task != CLASSIFICATION:
            return np.asarray(model.predict(X), dtype=float)
        proba = model.predict_proba(X)
        labels = self.labels
        if len(model.classes_) == len(labels):
            return proba
        out = np.zeros((len(X), len(labels)))  # a fold without some rare label
        out[:, np.searchsorted(labels, model.classes_)] = proba
        return out

    def _empty_answers(self) -> np.ndarray:
        if self.task == CLASSIFICATION:
            return np.full((len(self.y), len(self.labels)), np.nan)
        return np.full(len(self.y), np.nan)

    def _prepared_fold(self, kind: str, index: int, sample: int | None = None):
        """(fitted preparer, training matrix, checking matrix, training rows), made once per
        kind, fold and sampling."""
        key = (kind, index, sample)
        if key not in self._prepared:
            train, check = self.plan.folds[index]
            if sample is not None:
                train = self._sample(train, sample, index)
            prepare = preparer(kind, self.features, len(train))
            X_train = prepare.fit_transform(self.X.iloc[train], self.y[train])
            X_check = prepare.transform(self.X.iloc[check])
            self._prepared[key] = (prepare, X_train, X_check, train)
        return self._prepared[key]

    def _sample(self, rows: np.ndarray, size: int, index: int) -> np.ndarray:
        """At most about `size` of `rows`, with every label present (a fit needs them all)."""
        if len(rows) <= size:
            return rows
        rng = np.random.default_rng([self.seed, index])  # apart from the draws' generator
        if self.task != CLASSIFICATION:
            return np.sort(rng.choice(rows, size, replace=False))
        labels = pd.Series(rows).groupby(self.y[rows], sort=True)
        picked = []
        for _, group in labels:
            share = round(size * len(group) / len(rows))
            n = min(len(group), max(share, QUICK_MIN_PER_LABEL))
            picked.append(rng.choice(group.to_numpy(), n, replace=False))
        return np.sort(np.concatenate(picked))

    def _keep_only_best_models(self) -> None:
        for rank, trial in enumerate(self.ranked()):
            if rank >= KEEP_MODELS:
                trial.models = None

    def _expected_seconds(self, family: Family, params: dict) -> float:
        """A guess from the trials so far of how long these settings take."""
        own = [
            t.seconds / family.size(t.params)
            for t in self.trials
            if t.family is family and not t.sampled
        ]
        if own:
            return float(np.median(own)) * family.size(params)
        if not self._seconds_per_cost:
            return 0.0
        return float(np.median(self._seconds_per_cost)) * self._cost(family, params)

    def _cost(self, family: Family, params: dict) -> float:
        cost = family.cost * family.size(params)
        if family.per_label and self.classes is not None and len(self.classes) > 2:
            return cost * len(self.classes)  # boosting grows one set of trees per label
        return cost

    # -- drawing new settings ------------------------------------------------------------
    def _draw(self) -> tuple[Family, dict]:
        """New settings, mostly for the families doing best; half of them close to the best."""
        best_by_family: dict[str, Trial] = {}
        for trial in self.ranked():
            best_by_family.setdefault(trial.family.name, trial)
        leaders = list(best_by_family.values())
        # Rank 1 is drawn half the time, rank 2 a quarter, and so on.
        chances = np.array([0.5**i for i in range(1, len(leaders) + 1)])
        leader = leaders[self.rng.choice(len(leaders), p=chances / chances.sum())]
        family = leader.family
        fresh = family.draw(self.rng, self.task)
        if self.rng.random() < 0.5:
            # Nudge the leader: change one setting at a time.
            key = self.rng.choice(sorted(fresh))
            return family, {**leader.params, key: fresh[key]}
        return family, fresh

    # -- final models --------------------------------------------------------------------
    def refit(self, trial: Trial) -> Pipeline:
        """The trial's settings, learned again from every row."""
        prepare = preparer(trial.family.prep, self.features, len(self.y))
        rows = len(self.y)
        context = Context(
            self.task, rows, self.context.smallest_class, self.context.categorical, self.seed
        )
        pipeline = Pipeline(
            [("prepare", prepare), ("model", trial.family.build(trial.params, context))]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return pipeline.fit(self.X, self.y)

    def refit_seconds(self, trial: Trial) -> float:
        """A guess at how long refit(trial) takes: a fold's fit, scaled to every row."""
        per_fold = trial.seconds / len(self.plan.folds)
        seen = self._prepared_fold(trial.family.prep, 0, QUICK_ROWS if trial.sampled else None)[3]
        return per_fold * len(self.y) / len(seen) * 1.2


def _finished(futures: list[Future], deadline: float, give_up: Callable[[], bool]) -> bool:
    """Wait for the fits; False as soon as the deadline passes or give_up() is true."""
    while True:
        _, pending = wait(futures, timeout=POLL_S)
        if not pending:
            return True
        if give_up() or time.monotonic() > deadline:
            for future in pending:
                future.cancel()  # not started yet: never will be
            return False


def make_plan(y: np.ndarray, task: str, seed: int) -> Plan:
    """Set the exam rows aside, then cross-validate on the rest, or hold out a slice of it."""
    everything = np.arange(len(y))
    if len(y) < EXAM_MIN_ROWS or (task == CLASSIFICATION and min(Counter(y).values()) < 5):
        searched, exam = everything, everything[:0]  # too few rows (of some label) to spare
    else:
        searched, exam = _split(everything, y, task, seed)
    plan = _search_plan(y[searched], task, seed)
    return Plan([(searched[a], searched[b]) for a, b in plan.folds], searched[plan.checked], exam)


def _split(index: np.ndarray, y: np.ndarray, task: str, seed: int):
    stratify = y if task == CLASSIFICATION else None
    a, b = train_test_split(index, test_size=HOLDOUT, random_state=seed, stratify=stratify)
    return np.sort(a), np.sort(b)


def _search_plan(y: np.ndarray, task: str, seed: int) -> Plan:
    rows = len(y)
    stratify = task == CLASSIFICATION
    if rows <= CV_MAX_ROWS:
        smallest = int(pd.Series(y).value_counts().min()) if stratify else rows
        n = max(2, min(FOLDS, smallest)) if stratify else FOLDS
        splitter = (
            StratifiedKFold(n, shuffle=True, random_state=seed)
            if stratify
            else KFold(n, shuffle=True, random_state=seed)
        )
        folds = [(a, b) for a, b in splitter.split(np.zeros(rows), y)]
        return Plan(folds, np.arange(rows), np.arange(0))
    train, check = _split(np.arange(rows), y, task, seed)
    return Plan([(train, check)], check, np.arange(0))
