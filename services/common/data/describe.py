"""What a prediction form needs to know about each column a model learns from, and what the
predictor needs to tell an unusual row (answers.py).

Lives in the shared package: the trainer writes these descriptions into the model file, and
the predictor reads them back to check new rows. Keys are only ever added: models saved before
a key existed must keep working without it.
"""

from __future__ import annotations

import pandas as pd

from services.common.data.features import as_text, to_datetime

MAX_CHOICES = 50
MAX_SEEN = 1_000


def describe_features(X: pd.DataFrame, kinds: dict[str, str]) -> list[dict]:
    """Name, kind and what a prediction form needs: an example, choices or a range.

    numeric: "example", "min", "max". datetime: "example", "earliest", "latest" (ISO).
    categorical: "example", "choices" (the MAX_CHOICES most common), "seen" (every value, as
    text and sorted, when there are at most MAX_SEEN; absent otherwise).
    """
    return [_describe(X[name], kind) for name, kind in kinds.items()]


def _describe(values: pd.Series, kind: str) -> dict:
    info: dict = {"name": str(values.name), "kind": kind}
    present = values.dropna()
    if kind == "numeric":
        whole = bool((present % 1 == 0).all())
        info["example"] = _number(present.median(), whole)
        info["min"], info["max"] = _number(present.min(), whole), _number(present.max(), whole)
    elif kind == "datetime":
        when = to_datetime(present).dropna().sort_values()
        info["example"] = as_iso(when.iloc[len(when) // 2]) if len(when) else None
        if len(when):
            info["earliest"], info["latest"] = as_iso(when.iloc[0]), as_iso(when.iloc[-1])
    else:
        counts = present.map(as_text).value_counts()
        info["choices"] = counts.index[:MAX_CHOICES].tolist()
        info["example"] = info["choices"][0] if len(counts) else None
        if len(counts) <= MAX_SEEN:
            info["seen"] = sorted(counts.index)
    return info


def _number(x: float, whole: bool) -> float | int | None:
    if pd.isna(x):
        return None
    return int(round(x)) if whole else round(float(x), 4)


def as_iso(when: pd.Timestamp) -> str:
    """2024-03-05 for a date, 2024-03-05T14:30:00 when it has a time of day."""
    return when.date().isoformat() if when == when.normalize() else when.isoformat()
