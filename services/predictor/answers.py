"""Turning a request into predictions with a model bundle (pure, runs in a worker thread)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from services.common.data.reading import read_csv


def score_csv(bundle: Any, content: bytes) -> bytes:
    """The uploaded rows, as read, with the prediction (and its confidence) appended."""
    frame = read_csv(content, min_rows=1, min_columns=1)  # any file worth scoring, even one row
    predictions, probabilities = bundle.predict_frame(frame)
    out = frame.copy()
    column = _free_name(out, "prediction")
    out[column] = predictions
    if probabilities is not None:
        out[_free_name(out, "confidence")] = [round(max(p.values()), 4) for p in probabilities]
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _free_name(frame: pd.DataFrame, wanted: str) -> str:
    name, n = wanted, 1
    while name in frame.columns:
        n += 1
        name = f"{wanted}_{n}"
    return name
