"""How good is a model, next to a simple guess? Metrics (JSON-safe), a light and plain words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

GREEN, YELLOW, RED = "green", "yellow", "red"
MAX_MATRIX_LABELS = 30  # a confusion matrix wider than this helps nobody on a dashboard
MAX_PAIRS = 200
RARE_SHARE = 0.2  # a yes/no answer on one side less often than this is "rare"


def number(x) -> float | None:
    """A JSON-safe float: None for NaN / infinity."""
    if x is None:
        return None
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


def plain(value):
    """A numpy scalar as the matching Python value (labels keep their type)."""
    return value.item() if isinstance(value, np.generic) else value


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in y_true.

    Hand-rolled: sklearn's version warns when y_pred holds a class y_true lacks, which a small
    hold-out does all the time.
    """
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in pd.unique(y_true)]))


def classification_metrics(y_true, y_pred, proba, classes: np.ndarray, y_train) -> dict:
    """Accuracy, balanced accuracy, F1, ROC AUC, confusion matrix and the majority-class guess.

    classes: the classifier's classes_, in its probability column order.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    majority = pd.Series(y_train).value_counts().index[0]
    guess = np.full(len(y_true), majority, dtype=y_true.dtype)
    return {
        "accuracy": number(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": number(balanced_accuracy(y_true, y_pred)),
        "f1": number(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "roc_auc": _roc_auc(y_true, proba, classes),
        "confusion_matrix": _confusion(y_true, y_pred, classes),
        "baseline": {
            "label": plain(majority),
            "accuracy": number(accuracy_score(y_true, guess)),
            "balanced_accuracy": number(balanced_accuracy(y_true, guess)),
        },
    }


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float | None:
    present, known = set(y_true.tolist()), set(classes.tolist())
    if len(present) < 2 or not present <= known:
        return None  # undefined when the hold-out lacks a class
    if len(classes) == 2:
        return number(roc_auc_score(y_true == classes[1], proba[:, 1]))
    if present != known:
        return None
    return number(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))


def _confusion(y_true, y_pred, classes: np.ndarray) -> dict | None:
    if len(classes) > MAX_MATRIX_LABELS:
        return None
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    return {"labels": [plain(c) for c in classes], "matrix": matrix.tolist()}


def regression_metrics(y_true, y_pred, y_train, seed: int) -> dict:
    """R², typical error (MAE, RMSE), the mean-guess baseline and actual-vs-predicted pairs."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    guess = np.full(len(y_true), float(np.mean(y_train)))
    pick = np.random.default_rng(seed).permutation(len(y_true))[:MAX_PAIRS]
    r2 = r2_score(y_true, y_pred) if len(y_true) >= 2 and np.ptp(y_true) > 0 else None
    return {
        "r2": number(r2),
        "mae": number(mean_absolute_error(y_true, y_pred)),
        "rmse": number(root_mean_squared_error(y_true, y_pred)),
        "baseline": {
            "mae": number(mean_absolute_error(y_true, guess)),
            "rmse": number(root_mean_squared_error(y_true, guess)),
        },
        "predicted_vs_actual": [[number(y_true[i]), number(y_pred[i])] for i in sorted(pick)],
    }


def judge(task: str, metrics: dict, n_classes: int) -> tuple[str, str]:
    """(light, one plain sentence why) comparing the model with a simple guess."""
    if task == "classification":
        return _judge_classes(metrics, n_classes)
    r2 = metrics["r2"]
    if r2 is not None and r2 >= 0.6:
        return GREEN, "It captures most of what makes the value go up or down."
    if r2 is not None and r2 >= 0.2:
        return YELLOW, "It captures some of what makes the value go up or down, but often misses."
    return RED, "It does little better than always guessing the average, so don't rely on it."


def _judge_classes(metrics: dict, k: int) -> tuple[str, str]:
    """Skill: how far balanced accuracy gets from chance (1 / labels) towards perfect.

    Balanced accuracy, not accuracy: always guessing the common label scores exactly chance,
    so 85% right where 85% of rows are "no" is red.
    """
    chance = 1 / max(k, 2)
    balanced = metrics["balanced_accuracy"]
    skill = 0.0 if balanced is None else (balanced - chance) / (1 - chance)
    if skill >= 0.5:
        return GREEN, "It does much better than a simple guess."
    if skill >= 0.2:
        return YELLOW, "It beats a simple guess, but still makes a fair number of mistakes."
    guess = metrics["baseline"]["label"]
    return RED, f"It does little better than always guessing '{guess}', so don't rely on it."


def summarise(task: str, metrics: dict) -> str:
    """One sentence a manager understands."""
    if task == "classification":
        right = round(100 * metrics["accuracy"])
        guess = round(100 * metrics["baseline"]["accuracy"])
        rare = _rare_label(metrics)
        if rare is not None:
            label, spotted = rare
            return (
                f"Right about {right} times out of 100, and it spots about {spotted} in 10 of "
                f"the rare '{label}' cases (always guessing '{metrics['baseline']['label']}' "
                f"would be right {guess} times but never spot one)."
            )
        return (
            f"Right about {right} times out of 100 (a simple guess would be right {guess} times)."
        )
    off, guess = _amount(metrics["mae"]), _amount(metrics["baseline"]["mae"])
    return (
        f"Predictions are typically off by about {off} "
        f"(a simple guess would be off by about {guess})."
    )


def _rare_label(metrics: dict) -> tuple[object, int] | None:
    """(label, how many in 10 it finds) for a yes/no question whose answer is rarely one side."""
    confusion = metrics["confusion_matrix"]
    if confusion is None or len(confusion["labels"]) != 2:
        return None
    matrix = np.asarray(confusion["matrix"])
    totals = matrix.sum(axis=1)
    rare = int(np.argmin(totals))
    if totals[rare] == 0 or totals[rare] / totals.sum() >= RARE_SHARE:
        return None
    return confusion["labels"][rare], round(10 * matrix[rare, rare] / totals[rare])


def _amount(x: float | None) -> str:
    if x is None:
        return "an unknown amount"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2g}"


def importance(model, X: pd.DataFrame, y, *, scorer, seed: int, repeats: int) -> list:
    """How much the score drops when each original column is shuffled, largest first.

    scorer(model, X, y) -> higher is better. No repeats: no ranking (out of time).
    """
    if len(X) < 2 or repeats < 1:
        return []
    found = permutation_importance(
        model, X, y, scoring=scorer, n_repeats=repeats, random_state=seed
    )
    # Shuffling a useless column can nudge the score up by luck; that still means "no effect".
    scores = [max(0.0, number(m) or 0.0) for m in found.importances_mean]
    ranked = sorted(zip(X.columns, scores, strict=True), key=lambda p: -p[1])
    return [{"feature": str(name), "importance": score} for name, score in ranked]
