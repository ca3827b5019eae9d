"""What comes with each prediction: how sure the model is, and whether the row is unlike
anything the model learned from (with a plain-English reason naming the column).

The training-time facts come from the feature descriptions in the model file (describe.py).
A model saved before a key existed simply skips that check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.common.data.describe import as_iso
from services.common.data.features import as_text

HIGH, MEDIUM, LOW = "high", "medium", "low"
# How far the top probability is above chance (1/k for k labels), as a share of the way from
# chance to certainty: m = (top - 1/k) / (1 - 1/k). High from 0.6 and medium from 0.2, i.e.
# for two labels high >= 0.8 and medium >= 0.6; for three, high >= 0.733 and medium >= 0.467;
# for ten, high >= 0.64 and medium >= 0.28.
HIGH_MARGIN, MEDIUM_MARGIN = 0.6, 0.2
# A number or date may pass the range seen in training by this share of the range's width
# before it counts as unusual: models carry on sensibly a little way past their data.
WIDEN = 0.1
_LEARNED = "anything the model learned from"


@dataclass
class Answers:
    """Per row: the prediction, {label: probability} and "high" / "medium" / "low" (both None
    for a number), and the reasons the row is unusual (an empty list when it is not)."""

    predictions: list
    probabilities: list[dict[str, float]] | None
    confidence: list[str] | None
    unusual: list[list[str]]

    def unusual_flags(self) -> list[dict]:
        """The API shape: [{"unusual": bool, "reasons": [str, ...]}, ...]."""
        return [{"unusual": bool(reasons), "reasons": reasons} for reasons in self.unusual]


def confidence(proba: np.ndarray) -> list[str]:
    """ "high", "medium" or "low" per row of class probabilities (see HIGH_MARGIN)."""
    if proba.shape[1] < 2:
        return [HIGH] * len(proba)
    chance = 1 / proba.shape[1]
    margin = np.round((proba.max(axis=1) - chance) / (1 - chance), 6)
    labels = np.where(margin >= HIGH_MARGIN, HIGH, np.where(margin >= MEDIUM_MARGIN, MEDIUM, LOW))
    return labels.tolist()


def unusual_reasons(X: pd.DataFrame, features: list[dict]) -> list[list[str]]:
    """For each row of X (as prepare_frame returns it), why it is unlike the training data."""
    reasons: list[list[str]] = [[] for _ in range(len(X))]
    for feature in features:
        check = _CHECKS.get(feature.get("kind", ""))
        if check is None or feature["name"] not in X.columns:
            continue
        for row, reason in check(X[feature["name"]].reset_index(drop=True), feature):
            reasons[row].append(reason)
    return reasons


def _numeric(values: pd.Series, feature: dict) -> list[tuple[int, str]]:
    lo, hi = feature.get("min"), feature.get("max")
    if lo is None or hi is None:
        return []
    return _out_of_range(values, lo, hi, feature["name"], _number, ("well below", "well above"))


def _datetime(values: pd.Series, feature: dict) -> list[tuple[int, str]]:
    first, last = feature.get("earliest"), feature.get("latest")
    if first is None or last is None:
        return []
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    return _out_of_range(
        values, first, last, feature["name"], as_iso, ("earlier than", "later than")
    )


def _out_of_range(values, lo, hi, name: str, show, words: tuple[str, str]) -> list[tuple[int, str]]:
    """Rows whose value is more than WIDEN of the range [lo, hi] past either end."""
    margin = WIDEN * (hi - lo)
    seen = f"({show(lo)} to {show(hi)})"
    out = []
    for mask, word in ((values < lo - margin, words[0]), (values > hi + margin, words[1])):
        for row in np.flatnonzero(mask.to_numpy()):
            out.append((int(row), f"'{name}' is {show(values[row])}, {word} {_LEARNED} {seen}."))
    return out


def _categorical(values: pd.Series, feature: dict) -> list[tuple[int, str]]:
    seen = feature.get("seen")
    if seen is None:
        return []
    text = values.dropna().map(as_text)
    unseen = text[~text.isin(set(seen))]
    learned = "in the data the model learned from"
    return [(row, f"'{feature['name']}' was never '{t}' {learned}.") for row, t in unseen.items()]


_CHECKS = {"numeric": _numeric, "categorical": _categorical, "datetime": _datetime}


def _number(x: float) -> str:
    """240, 12.5, 0.0031 or 1234568: plain, without an exponent."""
    x = float(x)
    if x.is_integer():
        return str(int(x))
    if abs(x) >= 100_000:
        return f"{x:.0f}"
    return np.format_float_positional(x, precision=6, fractional=False, trim="-")
