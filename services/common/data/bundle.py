"""What a model file holds, and how to ask it for predictions.

The predictor unpickles a ModelBundle without importing the trainer, so everything the pipeline
needs lives in this shared package (see features.py).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from services.common.data.answers import Answers, confidence, unusual_reasons
from services.common.data.features import to_datetime
from services.common.data.reading import MISSING
from services.common.errors import Unprocessable

_MISSING = frozenset(MISSING)


def current_versions() -> dict[str, str]:
    """The library versions a model is trained under; a model loaded elsewhere can compare."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }


@dataclass
class ModelBundle:
    """A trained pipeline plus what a prediction form and a predictor need to know about it.

    features: [{"name", "kind", "example", ...}] as describe_features writes them.
    classes: the labels in the pipeline's probability order (classification), else None.
    """

    pipeline: Any
    task: str
    target: str
    features: list[dict]
    classes: list | None = None
    versions: dict[str, str] = field(default_factory=current_versions)
    algorithm: str = ""

    @property
    def feature_names(self) -> list[str]:
        """The columns a prediction needs, in the pipeline's order."""
        return [f["name"] for f in self.features]

    def predict(self, rows: list[dict]) -> tuple[list, list[dict] | None]:
        """Predict for JSON rows: (predictions, per-row {label: probability} or None)."""
        answers = self.answer(rows)
        return answers.predictions, answers.probabilities

    def predict_frame(self, df: pd.DataFrame) -> tuple[list, list[dict] | None]:
        """Predict for a table (bulk CSV scoring); extra columns and any order are fine."""
        answers = self._answer(df, check_unusual=False)
        return answers.predictions, answers.probabilities

    def answer(self, rows: list[dict]) -> Answers:
        """Predict for JSON rows, with how sure the model is and what is unusual in each."""
        if not rows:
            raise Unprocessable("There are no rows to predict.", code="no_rows")
        if not all(isinstance(row, dict) for row in rows):
            raise Unprocessable("Each row must map column names to values.", code="bad_value")
        return self.answer_frame(pd.DataFrame(rows, index=range(len(rows))))

    def answer_frame(self, df: pd.DataFrame) -> Answers:
        """answer() for a table; extra columns and any order are fine."""
        return self._answer(df, check_unusual=True)

    def _answer(self, df: pd.DataFrame, *, check_unusual: bool) -> Answers:
        if len(df) == 0:
            raise Unprocessable("There are no rows to predict.", code="no_rows")
        missing = [name for name in self.feature_names if name not in df.columns]
        if missing:
            names = ", ".join(f"'{n}'" for n in missing)
            raise Unprocessable(
                f"The model needs these columns, which are missing: {names}.",
                code="missing_columns",
            )
        X = prepare_frame(df, self.features, strict=True)
        unusual = (
            unusual_reasons(X, self.features) if check_unusual else [[] for _ in range(len(X))]
        )
        if self.task != "classification":
            predictions = np.asarray(self.pipeline.predict(X), dtype=float).tolist()
            return Answers(predictions, None, None, unusual)
        # One pass over the model: the label comes from the probabilities. A Blend weighs them
        # first, so a rare outcome is predicted when it is well above its usual rate.
        proba = self.pipeline.predict_proba(X)
        classes = list(self.classes if self.classes is not None else self.pipeline.classes_)
        weights = getattr(self.pipeline, "decision_weights", None)
        picked = (proba if weights is None else proba * weights).argmax(axis=1)
        predictions = [classes[i] for i in picked]
        labels = [str(label) for label in classes]
        probabilities = [dict(zip(labels, row, strict=True)) for row in proba.round(6).tolist()]
        return Answers(predictions, probabilities, confidence(proba), unusual)


def prepare_frame(df: pd.DataFrame, features: list[dict], *, strict: bool) -> pd.DataFrame:
    """The feature columns in order, with the types the pipeline was trained on.

    Blank strings and missing spellings become NaN (the pipeline fills them in). strict: a
    value that is not a number (or date) raises Unprocessable code bad_value; else it becomes NaN.
    """
    columns = {}
    for feature in features:
        name, kind = feature["name"], feature["kind"]
        values = _blank_to_missing(df[name])
        if kind == "numeric":
            parsed = pd.to_numeric(values, errors="coerce")
            values = _checked(values, parsed, name, "number", strict).astype("float64")
        elif kind == "datetime":
            values = _checked(values, to_datetime(values), name, "date", strict)
        columns[name] = values
    return pd.DataFrame(columns, index=df.index)


def _blank_to_missing(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    if isinstance(values.dtype, pd.StringDtype):  # fast path: every value is a str or missing
        return values.mask(values.str.strip().isin(_MISSING))
    return values.mask(values.map(_is_blank).astype(bool))


def _is_blank(value: object) -> bool:
    if isinstance(value, str):
        return value.strip() in _MISSING
    return value is None or (isinstance(value, float) and np.isnan(value))


def _checked(original: pd.Series, parsed: pd.Series, name: str, what: str, strict: bool):
    """parsed, unless strict and some value given could not be read as a what."""
    bad = (original.notna() & parsed.isna()).to_numpy()
    if strict and bad.any():
        row = int(np.argmax(bad))
        raise Unprocessable(
            f"Row {row + 1}: '{name}' should be a {what}, but it is '{original.iloc[row]}'.",
            code="bad_value",
        )
    return parsed
