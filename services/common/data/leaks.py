"""Columns that give the answer away: filled in after the fact (a cancel date only churners
have), or the answer written another way (a status code that maps one-to-one to the label, a
number equal to the target times 12). A model that learns from them looks perfect and then
fails on new rows, so they are left out of training.

Each column is judged on its own, on a sample of at most SAMPLE_ROWS labelled rows, and only a
near-perfect answer counts: genuinely strong columns (iris petal length alone is right about
95% of the time, breast-cancer "worst perimeter" about 93%) are not leaks.

- Classification: balanced accuracy >= NEAR_PERFECT of any of
  - the column's values as groups, each row guessed from the other rows of its group
    (leave-one-out, so a value seen once never counts as right: ID-like columns score low);
  - whether the column is blank (the same leave-one-out rule on two groups);
  - a tiny decision tree (depth 2, or enough for the number of labels) on the column as a
    number or date, cross-validated over FOLDS folds.
- Regression: the column explains >= NEAR_PERFECT of the target's variation: squared Pearson or
  Spearman correlation (a number or date), or the leave-one-out group mean (any column).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from services.common.data.features import to_datetime
from services.common.data.kinds import CATEGORICAL, DATETIME

SAMPLE_ROWS = 5_000
NEAR_PERFECT = 0.99
FOLDS = 3
MIN_PAIRS = 10


def leaking_columns(df: pd.DataFrame, target: str, task: str, kinds: dict[str, str]) -> list[str]:
    """The columns of `kinds` (name -> kind) that on their own predict `target` near-perfectly.

    Never the only column: with nothing else to learn from, nothing is left out.
    """
    if len(kinds) < 2:
        return []
    sample = df.loc[df[target].notna(), [*kinds, target]]
    if len(sample) > SAMPLE_ROWS:
        sample = sample.sample(SAMPLE_ROWS, random_state=0)
    if task == "classification":
        sample = _without_rare_labels(sample, target)
        if sample[target].nunique() < 2:
            return []
        codes = pd.factorize(sample[target])[0]
        leaks = [n for n, kind in kinds.items() if _gives_away_label(sample[n], kind, codes)]
    else:
        y = pd.to_numeric(sample[target], errors="coerce").astype("float64").to_numpy()
        leaks = [n for n, kind in kinds.items() if _gives_away_number(sample[n], kind, y)]
    return leaks if len(leaks) < len(kinds) else []


def _without_rare_labels(sample: pd.DataFrame, target: str) -> pd.DataFrame:
    """Labels in fewer than FOLDS rows can be neither cross-validated nor judged."""
    counts = sample[target].value_counts()
    return sample[sample[target].isin(counts[counts >= FOLDS].index)]


def _gives_away_label(x: pd.Series, kind: str, codes: np.ndarray) -> bool:
    if _grouped_accuracy(_groups(x), codes) >= NEAR_PERFECT:
        return True
    blank = x.isna().to_numpy(dtype="int64")
    if 0 < blank.sum() < len(blank) and _grouped_accuracy(blank, codes) >= NEAR_PERFECT:
        return True
    numbers = _numbers(x, kind)
    return numbers is not None and _tree_accuracy(numbers, codes) >= NEAR_PERFECT


def _gives_away_number(x: pd.Series, kind: str, y: np.ndarray) -> bool:
    numbers = _numbers(x, kind)
    if numbers is not None and _explained_by_correlation(numbers, y) >= NEAR_PERFECT:
        return True
    return _grouped_r2(_groups(x), y) >= NEAR_PERFECT


def _groups(x: pd.Series) -> np.ndarray:
    """One integer per distinct value; blanks form a group of their own."""
    groups = pd.factorize(x)[0]  # blanks are -1
    return np.where(groups < 0, groups.max() + 1, groups)


def _numbers(x: pd.Series, kind: str) -> np.ndarray | None:
    """The column on a number line (dates as seconds), blanks NaN; None for categories."""
    if kind == CATEGORICAL:
        return None
    if kind == DATETIME:
        seconds = (to_datetime(x) - pd.Timestamp(0)).dt.total_seconds()
        return seconds.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(x, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _grouped_accuracy(groups: np.ndarray, codes: np.ndarray) -> float:
    """Balanced accuracy of guessing each row's label as the most common label among the
    other rows of its group (a tie, or a group of one, counts as wrong)."""
    counts = np.zeros((groups.max() + 1, codes.max() + 1))
    np.add.at(counts, (groups, codes), 1)
    order = np.sort(counts, axis=1)
    top, second = order[:, -1:], order[:, -2:-1]
    best_other = np.where(counts == top, second, top)  # the leading count among other labels
    right = (counts - 1 > best_other) & (counts > 0)
    recall = (counts * right).sum(axis=0) / counts.sum(axis=0)
    return float(recall.mean())


def _tree_accuracy(numbers: np.ndarray, codes: np.ndarray) -> float:
    if np.isnan(numbers).all():
        return 0.0
    labels = int(codes.max()) + 1
    depth = max(2, math.ceil(math.log2(labels)))
    if _label_changes(numbers, codes) > 2**depth - 1 + 2 * (1 - NEAR_PERFECT) * labels * len(codes):
        return 0.0
    tree = DecisionTreeClassifier(max_depth=depth, random_state=0)
    X = numbers.reshape(-1, 1)
    # Fitting on every row is an upper bound: skip the cross-validation when even that falls short.
    if balanced_accuracy_score(codes, tree.fit(X, codes).predict(X)) < NEAR_PERFECT:
        return 0.0
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    return float(balanced_accuracy_score(codes, cross_val_predict(tree, X, codes, cv=folds)))


def _label_changes(numbers: np.ndarray, codes: np.ndarray) -> int:
    """How often the label changes along the number line. A tree with L leaves that is wrong
    on e rows sees at most L - 1 + 2e changes, and a balanced accuracy of 0.99 over k labels
    allows at most e = 0.01 * k * rows: more changes than that rule a near-perfect tree out."""
    order = np.lexsort((codes, numbers))  # blanks last; ties ordered by label
    return int((np.diff(codes[order]) != 0).sum())


def _explained_by_correlation(numbers: np.ndarray, y: np.ndarray) -> float:
    present = ~(np.isnan(numbers) | np.isnan(y))
    a, b = numbers[present], y[present]
    if len(a) < MIN_PAIRS or a.std() == 0 or b.std() == 0:
        return 0.0
    pearson = np.corrcoef(a, b)[0, 1]
    ranks = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    spearman = np.corrcoef(*ranks)[0, 1]
    return float(max(pearson**2, spearman**2))


def _grouped_r2(groups: np.ndarray, y: np.ndarray) -> float:
    """R² of guessing each row's number as the mean of the other rows of its group (the
    overall mean for a group of one)."""
    present = ~np.isnan(y)
    groups, y = groups[present], y[present]
    total = ((y - y.mean()) ** 2).sum()
    if len(y) < MIN_PAIRS or total == 0:
        return 0.0
    sizes = np.bincount(groups)[groups]
    sums = np.bincount(groups, weights=y)[groups]
    others = np.where(sizes > 1, (sums - y) / np.maximum(sizes - 1, 1), y.mean())
    return float(1 - ((y - others) ** 2).sum() / total)
