"""What the search maximises, judged on answers for rows a model did not learn from.

Classification: balanced accuracy (every outcome counts the same, so always guessing the common
one scores no better than chance), with a small log-loss term that prefers confident right
answers among equally accurate models: small files give many ties otherwise.
Regression: R² (1 is perfect, 0 is no better than guessing the mean).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import r2_score

from services.trainer.domain.families import CLASSIFICATION
from services.trainer.domain.scoring import balanced_accuracy

LOG_LOSS_WEIGHT = 0.01


def decision_weights(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per label, 1 / its share of rows (averaging 1): picks the label most above its usual
    rate, which is what maximises balanced accuracy."""
    shares = np.array([np.mean(y == c) for c in classes])
    weights = 1.0 / shares
    return weights / weights.mean()


def decide(classes: np.ndarray, proba: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    weighted = proba if weights is None else proba * weights
    return classes[np.argmax(weighted, axis=1)]


def headline(task: str, y: np.ndarray, answers: np.ndarray, weights, classes=None) -> float:
    """Balanced accuracy or R² of the answers."""
    if task != CLASSIFICATION:
        return float(r2_score(y, answers)) if np.ptp(y) > 0 else 0.0
    classes = np.unique(y) if classes is None else classes
    return balanced_accuracy(y, decide(classes, answers, weights))


def value(task: str, y: np.ndarray, answers: np.ndarray, weights, classes) -> float:
    """The number the search maximises (higher is better)."""
    score = headline(task, y, answers, weights, classes)
    if task != CLASSIFICATION:
        return score
    return score - LOG_LOSS_WEIGHT * _balanced_log_loss(y, answers, classes)


def _balanced_log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    column = np.searchsorted(classes, y)
    picked = np.clip(proba[np.arange(len(y)), column], 1e-6, 1.0)
    return float(np.mean([-np.log(picked[column == j]).mean() for j in np.unique(column)]))
