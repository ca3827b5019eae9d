"""Profile a dataset for a business user: what each column is, what we will predict, and a
green / yellow / red light with plain-English notes about the data."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from services.common.data.kinds import (
    CONSTANT,
    IDENTIFIER,
    TEXT,
    USABLE_KINDS,
    few_codes,
    infer_kind,
    infer_task,
)
from services.common.data.leaks import leaking_columns
from services.common.errors import BadInput

__all__ = ["ColumnProfile", "DatasetProfile", "infer_kind", "infer_task", "profile_dataset"]

GREEN, YELLOW, RED = "green", "yellow", "red"
MIN_ROWS = 10
FEW_ROWS, SOME_ROWS = 30, 100  # below FEW_ROWS: red; below SOME_ROWS: yellow
RARE_CLASS_ROWS = 5
IMBALANCED_SHARE = 0.10
WIDE_COLUMNS, ROWS_PER_COLUMN = 500, 10  # more columns than either: chance patterns loom
_IGNORED_BECAUSE = {
    IDENTIFIER: ("it's just an ID", "they are just IDs"),
    CONSTANT: ("it has the same value in every row", "they have the same value in every row"),
    TEXT: ("it's free text, which we can't use yet", "they are free text, which we can't use yet"),
}


@dataclass
class ColumnProfile:
    name: str
    kind: str
    missing: int
    unique: int
    leaks_target: bool = False  # gives the answer away (see leaks.py): left out of training


@dataclass
class DatasetProfile:
    rows: int
    columns: list[ColumnProfile]
    target: str
    task: str
    light: str
    messages: list[str] = field(default_factory=list)

    def features(self) -> list[ColumnProfile]:
        """The columns a model will learn from: usable kinds, target and leaks excluded."""
        return [
            c
            for c in self.columns
            if c.name != self.target and c.kind in USABLE_KINDS and not c.leaks_target
        ]


def profile_dataset(df: pd.DataFrame, target: str | None) -> DatasetProfile:
    """Profile df for predicting target (None: the last column).

    Raises BadInput: target_missing, too_few_rows, one_class_only, target_not_learnable.
    """
    target = _check_target(df, target)
    y = df[target].dropna()
    if len(y) < MIN_ROWS:
        raise BadInput(
            f"Only {len(y)} rows have a value for '{target}', but we need at least {MIN_ROWS}.",
            code="too_few_rows",
        )
    if y.nunique() < 2:
        raise BadInput(
            f"Every row has the same value for '{target}' ({y.iloc[0]}), so there is nothing "
            "to predict.",
            code="one_class_only",
        )
    task = infer_task(y)
    if task == "classification" and int((y.value_counts() >= 2).sum()) < 2:
        raise BadInput(
            f"'{target}' has a different value in almost every row (like an ID or a name), so "
            "there is no pattern to learn. Please choose another column to predict.",
            code="target_not_learnable",
        )
    columns = [_column(df[name]) for name in df.columns]
    profile = DatasetProfile(len(df), columns, target, task, GREEN)
    leaks = _mark_leaks(df, profile)
    notes = [(GREEN, _headline(profile, y.nunique()))]
    notes += [(YELLOW, note) for note in df.attrs.get("notes", [])]  # how the file was read
    notes += _coded_target_notes(y, target, task)
    notes += _row_notes(len(df), len(y), target)
    notes += _leak_notes(leaks)
    notes += _column_notes(profile, len(y))
    if task == "classification":
        notes += _class_notes(y, target)
    profile.light = _worst(light for light, _ in notes)
    profile.messages = [message for _, message in notes]
    return profile


def _check_target(df: pd.DataFrame, target: str | None) -> str:
    if len(df.columns) == 0:
        raise BadInput("The data has no columns.", code="too_few_columns")
    if target is None:
        return _default_target(df)
    if target not in df.columns:
        names = ", ".join(f"'{c}'" for c in df.columns[:5])
        more = ", ..." if len(df.columns) > 5 else ""
        raise BadInput(
            f"There is no column called '{target}'; the columns are {names}{more}.",
            code="target_missing",
        )
    return target


def _default_target(df: pd.DataFrame) -> str:
    """The last column worth predicting (a number or a category), skipping a trailing ID,
    note or constant; the last column when none is."""
    for name in reversed(df.columns):
        if infer_kind(df[name]) in ("numeric", "categorical"):
            return str(name)
    return str(df.columns[-1])


def _column(series: pd.Series) -> ColumnProfile:
    return ColumnProfile(
        name=str(series.name),
        kind=infer_kind(series),
        missing=int(series.isna().sum()),
        unique=int(series.nunique()),
    )


def _mark_leaks(df: pd.DataFrame, profile: DatasetProfile) -> list[str]:
    kinds = {c.name: c.kind for c in profile.features()}
    leaks = leaking_columns(df, profile.target, profile.task, kinds)
    for column in profile.columns:
        column.leaks_target = column.name in leaks
    return leaks


def _leak_notes(leaks: list[str]) -> list[tuple[str, str]]:
    if not leaks:
        return []
    if len(leaks) == 1:
        why = "it was probably filled in after the fact. We'll leave it out."
        return [(RED, f"{_names(leaks)} gives the answer away almost perfectly: {why}")]
    why = "they were probably filled in after the fact. We'll leave them out."
    return [(RED, f"{_names(leaks)} give the answer away almost perfectly: {why}")]


def _headline(profile: DatasetProfile, distinct: int) -> str:
    columns = _count(len(profile.features()), "other column")
    if profile.task == "classification":
        values = f"{distinct} possible values"
        return f"We'll learn to predict '{profile.target}' ({values}) from {columns}."
    return f"We'll learn to predict the number '{profile.target}' from {columns}."


def _coded_target_notes(y: pd.Series, target: str, task: str) -> list[tuple[str, str]]:
    """Say so when whole numbers are taken as categories: a user may have meant amounts."""
    numbers = pd.to_numeric(y, errors="coerce") if not pd.api.types.is_bool_dtype(y) else None
    if task != "classification" or numbers is None or numbers.isna().any() or y.nunique() < 3:
        return []
    if not few_codes(numbers):
        return []
    shown = [str(int(v)) for v in sorted(numbers.unique())]
    values = f"from {shown[0]} to {shown[-1]}" if len(shown) > 5 else _names(shown).replace("'", "")
    return [
        (
            GREEN,
            f"'{target}' holds only a few whole numbers ({values}), so we'll treat them as "
            "categories and predict which one applies, rather than an amount.",
        )
    ]


def _row_notes(rows: int, labelled: int, target: str) -> list[tuple[str, str]]:
    notes = []
    if rows > labelled:
        unlabelled = _count(rows - labelled, "row")
        verb = "has" if rows - labelled == 1 else "have"
        notes.append((YELLOW, f"{unlabelled} {verb} no value for '{target}' and will be left out."))
    if labelled < FEW_ROWS:
        notes.append((RED, f"Only {labelled} rows are left to learn from; that is very few."))
    elif labelled < SOME_ROWS:
        notes.append((YELLOW, f"With {labelled} rows, predictions may be rough; more data helps."))
    return notes


def _column_notes(profile: DatasetProfile, labelled: int) -> list[tuple[str, str]]:
    features = profile.features()
    notes = []
    if not features:
        notes.append((RED, f"None of the other columns can be used to predict '{profile.target}'."))
    notes += _wide_notes(len(features), labelled)
    gappy = [c.name for c in features if c.missing]
    if len(gappy) == 1:
        notes.append((YELLOW, f"The column '{gappy[0]}' has gaps; we'll fill them in."))
    elif gappy:
        notes.append((YELLOW, f"{len(gappy)} columns have gaps; we'll fill them in."))
    others = [c for c in profile.columns if c.name != profile.target]
    for kind, (one, many) in _IGNORED_BECAUSE.items():
        names = [c.name for c in others if c.kind == kind]
        if names:
            reason = one if len(names) == 1 else many
            notes.append((YELLOW, f"We'll ignore {_names(names)} because {reason}."))
    return notes


def _wide_notes(columns: int, labelled: int) -> list[tuple[str, str]]:
    """Many columns and few rows: some column will match the answer by chance alone."""
    chance = "the model may pick up chance patterns"
    if columns > labelled / ROWS_PER_COLUMN:
        many = f"many columns ({columns:,}) for so few rows ({labelled:,})"
        return [(YELLOW, f"There are {many}; {chance}.")]
    if columns > WIDE_COLUMNS:
        return [(YELLOW, f"There are very many columns ({columns:,}); {chance}.")]
    return []


def _class_notes(y: pd.Series, target: str) -> list[tuple[str, str]]:
    counts = y.value_counts()
    rare = counts[counts < RARE_CLASS_ROWS]
    if len(rare) == 1:
        label, n = rare.index[0], int(rare.iloc[0])
        return [(RED, f"'{label}' appears in only {_count(n, 'row')}, too few to learn it.")]
    if len(rare) > 1:
        labels = _names([str(label) for label in rare.index])
        few = f"fewer than {RARE_CLASS_ROWS} rows"
        return [(RED, f"{labels} each appear in {few} of '{target}', too few to learn them.")]
    share = counts.iloc[-1] / len(y)
    if share < IMBALANCED_SHARE:
        label = counts.index[-1]
        return [
            (
                YELLOW,
                f"Only {share:.0%} of rows have '{label}' for '{target}'; "
                "rare outcomes are harder to predict.",
            )
        ]
    return []


def _worst(lights) -> str:
    order = [GREEN, YELLOW, RED]
    return max(lights, key=order.index, default=GREEN)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _names(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    if len(quoted) > 4:
        return f"{', '.join(quoted[:3])} and {len(quoted) - 3} more columns"
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} and {quoted[-1]}"
