"""Tidy a table as pandas read it: names cleaned or made up, stray spaces and missing-value
spellings, a to_csv() index column, a units row; with a note for each thing read other than as
written."""

from __future__ import annotations

import re

import pandas as pd

from services.common.data import layout, limits
from services.common.data.names import clean_label
from services.common.errors import BadInput

# pandas' own defaults already cover "", NA, N/A, NULL, null, NaN, nan, None; these add the rest.
MISSING = ["", "NA", "N/A", "n/a", "na", "null", "NULL", "Null", "None", "none", "NONE", "nan"]
MISSING += ["NaN", "NAN", "-", "?", "#N/A"]
_UNNAMED = re.compile(r"Unnamed: (\d+)")  # pandas' name for a column with an empty name


def tidy(df: pd.DataFrame, header: bool, numbers: layout.Numbers) -> tuple[pd.DataFrame, list[str]]:
    """Tidy names and values; returns the table and notes on what was read other than as
    written."""
    notes = []
    if header:
        names = [clean_label(str(c)) or f"Unnamed: {i}" for i, c in enumerate(df.columns)]
    else:
        names = [f"column {i + 1}" for i in range(len(df.columns))]
        notes.append(
            "The first line of the file holds data, not column names, so we kept it as a row "
            f"and named the columns '{names[0]}' to '{names[-1]}'."
        )
    df = df.set_axis(names, axis=1)
    empty_unnamed = [c for c in df.columns if _UNNAMED.fullmatch(c) and df[c].isna().all()]
    df = df.drop(columns=empty_unnamed).dropna(how="all")
    if len(df.columns) and _is_row_number(df.columns[0], df.iloc[:, 0]):
        df = df.drop(columns=df.columns[0])  # an index pandas wrote with to_csv()
    df, notes = _name_unnamed(df, notes)
    for name in df.columns:
        if pd.api.types.is_string_dtype(df[name]):
            df[name] = _clean_text(df[name])
    df, notes = _set_units_aside(df, numbers, notes)
    refuse_duplicates(list(df.columns))  # two names may have differed only by hidden characters
    limits.check_names(list(df.columns))  # a quoted name may hold separators the sniff split on
    return df.reset_index(drop=True), notes


def _name_unnamed(df: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """ "column 3" for the third column when its name is empty, rather than pandas' "Unnamed: 2"."""
    renamed: dict[str, str] = {}
    for name in df.columns:
        m = _UNNAMED.fullmatch(name)
        if m:
            new = f"column {int(m.group(1)) + 1}"
            renamed[name] = new if new not in df.columns else f"{new} (no name)"
    if not renamed:
        return df, notes
    new_names = list(renamed.values())
    if len(new_names) == 1:
        note = f"One column has no name in the file, so we called it '{new_names[0]}'."
    else:
        called = _listing([f"'{n}'" for n in new_names])
        note = f"{len(new_names)} columns have no name in the file, so we called them {called}."
    return df.rename(columns=renamed), [*notes, note]


def _set_units_aside(
    df: pd.DataFrame, numbers: layout.Numbers, notes: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Drop a row of units under the header (kg, cm, EUR) so the columns below read as numbers."""
    units = layout.units_row(df, numbers)
    if not units:
        return df, notes
    df = df.iloc[1:]
    for name in units:
        df[name] = numbers.convert(df[name])
    listed = _listing([f"'{name}' in {clean_label(unit)}" for name, unit in units.items()])
    note = (
        f"The line under the column names gives units ({listed}) rather than data, so we set "
        "it aside and read the numbers below it as numbers."
    )
    return df, [*notes, note]


def _listing(items: list[str], most: int = 4) -> str:
    """'a', 'b' and 'c'; past `most` items, the first ones and how many more."""
    if len(items) > most:
        return f"{', '.join(items[: most - 1])} and {len(items) - most + 1} more"
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _clean_text(values: pd.Series) -> pd.Series:
    """Strip stray spaces; " ? " is missing too, and " 5" then a number after all."""
    stripped = values.str.strip()
    cleaned = stripped.mask(stripped.isin(MISSING))
    if cleaned.isna().sum() == values.isna().sum():
        return cleaned  # nothing newly missing: pandas already judged the column's type
    numbers = pd.to_numeric(cleaned, errors="coerce")
    return numbers if numbers.notna().sum() == cleaned.notna().sum() else cleaned


def _is_row_number(name: str, values: pd.Series) -> bool:
    if not _UNNAMED.fullmatch(name) or not pd.api.types.is_integer_dtype(values):
        return False
    start = values.iloc[0] if len(values) else 0
    return start in (0, 1) and bool((values.diff().iloc[1:] == 1).all())


def refuse_duplicates(header: list[str]) -> None:
    counts = pd.Series([name for name in header if name]).value_counts()
    dups = counts[counts > 1].index.tolist()
    if dups:
        names = ", ".join(f"'{n}'" for n in dups)
        raise BadInput(
            f"Some columns share the same name ({names}); please give each its own name.",
            code="bad_csv",
        )
