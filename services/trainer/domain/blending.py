"""Greedy ensemble selection (Caruana et al., 2004): starting from the best trial, add the trial
(repeats allowed) whose answers, averaged in, help most; keep the blend only if it beats the
best single model on the rows neither learned from."""

from __future__ import annotations

from collections import Counter

import numpy as np

from services.trainer.domain import objective
from services.trainer.domain.search import MIN_GAIN, Search, Trial

ROUNDS = 25


def select(search: Search) -> list[tuple[Trial, float]]:
    """(trial, weight) pairs, weights summing to 1; a single pair when blending doesn't help."""
    pool = [t for t in search.ranked() if t.models is not None]
    best = pool[0]
    if len(pool) == 1:
        return [(best, 1.0)]
    rows = search.plan.checked
    y, answers = search.y[rows], [t.answers[rows] for t in pool]

    def value(blend: np.ndarray) -> float:
        return objective.value(search.task, y, blend, search.weights, search.classes)

    counts = Counter({0: 1})
    total, top = answers[0].copy(), best.objective
    chosen = counts.copy()
    for size in range(2, ROUNDS + 1):
        gains = [value((total + a) / size) for a in answers]
        pick = int(np.argmax(gains))
        counts[pick] += 1
        total += answers[pick]
        if gains[pick] > top + MIN_GAIN:
            top, chosen = gains[pick], counts.copy()
    if len(chosen) == 1:
        return [(best, 1.0)]
    size = sum(chosen.values())
    return [(pool[i], n / size) for i, n in sorted(chosen.items(), key=lambda p: -p[1])]


def blended_answers(search: Search, members: list[tuple[Trial, float]]) -> np.ndarray:
    """The blend's out-of-fold answers for the checked rows."""
    rows = search.plan.checked
    return sum(weight * trial.answers[rows] for trial, weight in members)


STRENGTHS = (1.0, 0.75, 0.5, 0.25, 0.0)  # first wins a tie: the rule balanced accuracy favours


def decision_weights(search: Search, members: list[tuple[Trial, float]]) -> np.ndarray | None:
    """How strongly the blend should favour rare labels, chosen on the out-of-fold answers.

    Full strength (weights 1 / share) is what maximises balanced accuracy when probabilities are
    right; with few distinct rows they are rough, and a milder push can do better.
    """
    if search.weights is None:
        return None
    rows = search.plan.checked
    y, answers = search.y[rows], blended_answers(search, members)
    scores = [
        objective.headline(search.task, y, answers, search.weights**s, search.classes)
        for s in STRENGTHS
    ]
    return search.weights ** STRENGTHS[int(np.argmax(scores))]
