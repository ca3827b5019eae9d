"""Turning a request into predictions with a model bundle (pure, runs in a worker thread)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from services.common.data.reading import read_csv


def score_csv(bundle: Any, content: bytes) -> bytes:
    """The uploaded rows, as read, with columns appended: the prediction; for labels, the top
    probability (confidence) and high / medium / low (how_sure); and why a row is unusual."""
    frame = read_csv(content, min_rows=1, min_columns=1)  # any file worth scoring, even one row
    answers = bundle.answer_frame(frame)
    out = frame.copy()
    out[_free_name(out, "prediction")] = answers.predictions
    if answers.probabilities is not None:
        top = [round(max(p.values()), 4) for p in answers.probabilities]
        out[_free_name(out, "confidence")] = top
        out[_free_name(out, "how_sure")] = answers.confidence
    out[_free_name(out, "unusual")] = [" ".join(reasons) for reasons in answers.unusual]
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _free_name(frame: pd.DataFrame, wanted: str) -> str:
    name, n = wanted, 1
    while name in frame.columns:
        n += 1
        name = f"{wanted}_{n}"
    return name
