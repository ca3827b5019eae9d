"""The model families the search tries: how to build each, good first settings, and how to
draw new settings to try.

The first settings (the portfolio) are few, cheap and varied, so a small file gets a strong
model in seconds; drawn settings refine the families doing best when time allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from services.common.algorithms import FAMILIES
from services.trainer.domain.preparation import SCALED, TREES

CLASSIFICATION = "classification"
EARLY_STOPPING_ROWS = 1_000
SMALL_ROWS = 1_000  # below this, holding out a validation slice costs more than it saves
NEIGHBOURS_MAX_ROWS = 20_000  # beyond this, answering by nearest rows is slow and rarely best
THREADED_ROWS = 20_000  # below this, one thread per forest is faster than sharing two cores
FOREST_TREES = 100  # most of the gain of more trees at a fraction of the time


@dataclass(frozen=True)
class Context:
    """What building a model needs to know about the data it will learn from."""

    task: str
    rows: int
    smallest_class: int  # rows of the rarest label (classification), else rows
    categorical: np.ndarray | None  # which "trees" columns are category codes
    seed: int


class Estimator(Protocol):
    """What the search asks of a model a family builds (a scikit-learn estimator)."""

    def fit(self, X: Any, y: Any) -> Any: ...
    def predict(self, X: Any) -> Any: ...


@dataclass(frozen=True)
class Family:
    name: str
    prep: str
    build: Callable[[dict, Context], Estimator]
    portfolio: Callable[[str, int], list[dict]]
    draw: Callable[[np.random.Generator, str], dict]
    cost: float  # rough fit time next to gradient boosting's first settings
    max_rows: int | None = None
    per_label: bool = False  # fit time grows with the number of labels
    size: Callable[[dict], float] = lambda params: 1.0  # work next to the first settings
    quick: dict | None = None  # cheap settings for the search's first look, on a row sample

    @property
    def label(self) -> str:
        return FAMILIES[self.name]

    def fits(self, rows: int) -> bool:
        return self.max_rows is None or rows <= self.max_rows


def _boosting(p: dict, ctx: Context):
    classify = ctx.task == CLASSIFICATION
    # Its validation slice is stratified: impossible with a label seen only once.
    early = ctx.rows >= EARLY_STOPPING_ROWS and ctx.smallest_class >= 10
    cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    return cls(
        learning_rate=p["learning_rate"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=int(np.clip(ctx.rows // 20, 2, p["min_samples_leaf"])),
        l2_regularization=p["l2"],
        max_features=p["max_features"],
        # Without early stopping (small data) fewer rounds: they would mostly learn noise.
        max_iter=p["max_iter"] if early else p["max_iter"] // 4,
        early_stopping=early,
        n_iter_no_change=20,
        categorical_features=ctx.categorical,
        random_state=ctx.seed,
    )


def _boosting_portfolio(task: str, rows: int) -> list[dict]:
    base = dict(learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=20, l2=0.0, max_iter=200)
    settings = [
        {**base, "max_features": 1.0},
        dict(learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=10, l2=1.0, max_iter=400,
             max_features=0.5),
        dict(learning_rate=0.1, max_leaf_nodes=7, min_samples_leaf=5, l2=0.1, max_iter=300,
             max_features=0.8),
    ]  # fmt: skip
    if rows >= EARLY_STOPPING_ROWS:  # slow and deep: worth it only with rows to spare
        settings.append(
            dict(learning_rate=0.03, max_leaf_nodes=63, min_samples_leaf=30, l2=0.1,
                 max_iter=1000, max_features=0.5)
        )  # fmt: skip
    return settings


def _boosting_draw(rng: np.random.Generator, task: str) -> dict:
    rate = float(np.exp(rng.uniform(np.log(0.02), np.log(0.3))))
    return dict(
        learning_rate=round(rate, 4),
        max_leaf_nodes=int(rng.choice([4, 7, 15, 31, 63, 127])),
        min_samples_leaf=int(rng.choice([2, 5, 10, 20, 40, 80])),
        l2=float(rng.choice([0.0, 0.01, 0.1, 1.0, 10.0])),
        max_features=float(rng.choice([0.3, 0.5, 0.7, 1.0])),
        max_iter=int(min(1500, 30 / rate)),  # slower learning needs more rounds
    )


def _forest(extra: bool):
    def build(p: dict, ctx: Context):
        if ctx.task == CLASSIFICATION:
            cls = ExtraTreesClassifier if extra else RandomForestClassifier
        else:
            cls = ExtraTreesRegressor if extra else RandomForestRegressor
        return cls(
            # Small data: half the trees, as few rows give the extra trees little to add.
            n_estimators=p["trees"] if ctx.rows >= SMALL_ROWS else p["trees"] // 2,
            max_features=p["max_features"],
            min_samples_leaf=p["min_samples_leaf"],
            n_jobs=1 if ctx.rows < THREADED_ROWS else -1,
            random_state=ctx.seed,
        )

    return build


def _forest_portfolio(task: str, rows: int) -> list[dict]:
    first = "sqrt" if task == CLASSIFICATION else 0.5
    return [
        dict(trees=FOREST_TREES, max_features=first, min_samples_leaf=1),
        dict(
            trees=FOREST_TREES,
            max_features=0.7 if task == CLASSIFICATION else 1.0,
            min_samples_leaf=2,
        ),
    ]


def _forest_draw(rng: np.random.Generator, task: str) -> dict:
    return dict(
        trees=FOREST_TREES,
        max_features=_pick(rng, ["sqrt", 0.2, 0.33, 0.5, 0.7, 1.0]),
        min_samples_leaf=int(rng.choice([1, 2, 4, 8, 16])),
    )


def _linear(p: dict, ctx: Context):
    if ctx.task == CLASSIFICATION:
        return LogisticRegression(C=p["strength"], max_iter=300)
    return Ridge(alpha=1.0 / p["strength"])


def _linear_portfolio(task: str, rows: int) -> list[dict]:
    return [{"strength": 1.0}, {"strength": 0.1}, {"strength": 10.0}]


def _linear_draw(rng: np.random.Generator, task: str) -> dict:
    return {"strength": round(float(np.exp(rng.uniform(np.log(1e-3), np.log(1e2)))), 5)}


def _neighbours(p: dict, ctx: Context):
    cls = KNeighborsClassifier if ctx.task == CLASSIFICATION else KNeighborsRegressor
    return cls(n_neighbors=max(1, min(p["k"], ctx.rows - 1)), weights=p["weights"])


def _neighbours_portfolio(task: str, rows: int) -> list[dict]:
    return [{"k": 15, "weights": "distance"}, {"k": 5, "weights": "distance"}]


def _neighbours_draw(rng: np.random.Generator, task: str) -> dict:
    return {
        "k": int(rng.choice([3, 5, 7, 10, 15, 25, 40])),
        "weights": _pick(rng, ["uniform", "distance"]),
    }


def _trees(params: dict) -> float:
    return params["trees"] / FOREST_TREES


def _pick(rng: np.random.Generator, options: list):
    """One of options as the plain Python value (numpy would turn a mixed list into strings)."""
    return options[int(rng.integers(len(options)))]


# A first look of bounded cost whatever the data: few rounds or trees, fitted on a row sample.
QUICK_BOOSTING = dict(
    learning_rate=0.3, max_leaf_nodes=15, min_samples_leaf=20, l2=0.0, max_iter=30,
    max_features=1.0,
)  # fmt: skip
QUICK_FOREST = dict(trees=20, max_features="sqrt", min_samples_leaf=5)

FAMILY_LIST = [  # the portfolio's order after the first look: the dependable linear model first
    Family(
        "linear", SCALED, _linear, _linear_portfolio, _linear_draw, 0.3, quick={"strength": 1.0}
    ),
    Family(
        "gradient_boosting",
        TREES,
        _boosting,
        _boosting_portfolio,
        _boosting_draw,
        1.0,
        per_label=True,
        size=lambda p: p["max_iter"] / 200,
        quick=QUICK_BOOSTING,
    ),
    Family(
        "random_forest",
        TREES,
        _forest(False),
        _forest_portfolio,
        _forest_draw,
        3.0,
        size=_trees,
        quick=QUICK_FOREST,
    ),
    Family(
        "extra_trees",
        TREES,
        _forest(True),
        _forest_portfolio,
        _forest_draw,
        1.5,
        size=_trees,
        quick=QUICK_FOREST,
    ),
    Family(
        "nearest_neighbours",
        SCALED,
        _neighbours,
        _neighbours_portfolio,
        _neighbours_draw,
        0.5,
        max_rows=NEIGHBOURS_MAX_ROWS,
        quick={"k": 15, "weights": "distance"},
    ),
]
BY_NAME = {family.name: family for family in FAMILY_LIST}


# Which family takes the first look when several may: extra trees read gaps and categories
# as they are, weigh a square root of the columns at each split, and grow one tree for every
# label at once (boosting grows one per label): the cheapest whatever the file's shape.
FIRST_LOOK_ORDER = ("extra_trees", "random_forest", "gradient_boosting", "linear")


def first_look(names: list[str]) -> tuple[Family, dict]:
    """The settings tried first: cheap ones, so a usable model exists within seconds."""
    chosen = [name for name in FIRST_LOOK_ORDER if name in names] or names
    family = BY_NAME[chosen[0]]
    assert family.quick is not None, f"{family.name} has no quick settings"
    return family, family.quick


def portfolio(names: list[str], task: str, rows: int) -> list[tuple[Family, dict]]:
    """The first settings to try, round-robin over the families so each gets an early look."""
    queues = [[(f, p) for p in f.portfolio(task, rows)] for f in FAMILY_LIST if f.name in names]
    queues = [q for q in queues if q[0][0].fits(rows)]
    ordered = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered
