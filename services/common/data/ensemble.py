"""The model a model file holds: one or more fitted pipelines whose answers are averaged.

Lives in the shared package so the predictor can unpickle it without importing the trainer.
Keep it plain and backwards compatible: renaming it breaks every model file saved before.
"""

from __future__ import annotations

import numpy as np


class Blend:
    """A weighted average of fitted scikit-learn models (a single model is a blend of one).

    classes: the labels in probability order (classification), else None.
    decision_weights: per label, multiplied into the probabilities before picking the label,
    so that a rare outcome is predicted when it is more likely than usual, not only when it is
    more likely than not (every outcome counts the same; see balanced accuracy). The reported
    probabilities stay honest: they are not reweighted.
    """

    def __init__(self, members, weights, classes=None, decision_weights=None):
        total = float(np.sum(weights))
        self.members = list(members)
        self.weights = [float(w) / total for w in weights]
        self.classes_ = None if classes is None else np.asarray(classes)
        self.decision_weights = None if decision_weights is None else np.asarray(decision_weights)

    def fit(self, X, y=None) -> Blend:
        """The members arrive fitted; this exists so scikit-learn's tools accept a blend."""
        return self

    def predict_proba(self, X) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError("A model that predicts numbers has no probabilities.")
        return sum(w * self._aligned(m, X) for m, w in self._pairs())

    def predict(self, X) -> np.ndarray:
        if self.classes_ is None:
            return sum(w * np.asarray(m.predict(X), dtype=float) for m, w in self._pairs())
        return self.decide(self.predict_proba(X))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """The label to predict for each row of probabilities."""
        assert self.classes_ is not None
        weighted = proba if self.decision_weights is None else proba * self.decision_weights
        return self.classes_[np.argmax(weighted, axis=1)]

    def _pairs(self):
        return zip(self.members, self.weights, strict=True)

    def _aligned(self, model, X) -> np.ndarray:
        """The member's probabilities in the blend's label order (a member trained on part of
        the rows may not have seen every label)."""
        proba = model.predict_proba(X)
        own = np.asarray(model.classes_)
        if len(own) == len(self.classes_) and (own == self.classes_).all():
            return proba
        out = np.zeros((proba.shape[0], len(self.classes_)))
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        for j, label in enumerate(own.tolist()):
            out[:, index[label]] = proba[:, j]
        return out
