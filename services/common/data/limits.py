"""How large a CSV's parts may be, checked while reading so a hostile file is refused in a moment
rather than after pandas has worked on it for minutes.

The column names are checked from the first line alone, before the file is parsed; the cells
after parsing, by a look at the raw bytes that almost always settles it without touching a
value (see `check_cells`).
"""

from __future__ import annotations

import re

import pandas as pd

from services.common.errors import BadInput

MAX_HEADER_BYTES = 1024 * 1024  # 1,000 names of 200 characters fit with room to spare
MAX_COLUMNS = 1_000
MAX_NAME_CHARS = 200
MAX_CELL_CHARS = 1024 * 1024
_ANY_SEPARATOR = re.compile(r"[,;\t|]")
_QUOTES = " \t\"'"


def check_first_line(line: str, ends: bool) -> None:
    """Refuse a first line with a name too long, or one that never ends (`ends` False).

    Splitting on every separator we might use can only cut a name into shorter pieces, so a
    piece over the limit is a name over the limit, whatever the separator turns out to be.
    """
    longest = max(_ANY_SEPARATOR.split(line), key=len).strip(_QUOTES)
    if len(longest) > MAX_NAME_CHARS:
        raise name_too_long(longest, more=not ends)
    if not ends:
        columns = max(line.count(sep) for sep in ",;\t|") + 1
        if columns > MAX_COLUMNS:
            raise too_many_columns(columns, more=True)
        raise BadInput(
            "The first line of the file, which should hold the column names, goes on for more "
            f"than {_mb(MAX_HEADER_BYTES)} without ending. Please check that this is a CSV file "
            "with one line of column names.",
            code="header_too_long",
        )


def check_names(names: list[str]) -> None:
    """Refuse too many columns or too long a name (the header as the separator splits it)."""
    if len(names) > MAX_COLUMNS:
        raise too_many_columns(len(names))
    longest = max(names, key=len, default="")
    if len(longest) > MAX_NAME_CHARS:
        raise name_too_long(longest)


def too_many_columns(count: int, more: bool = False) -> BadInput:
    found = f"more than {count:,}" if more else f"{count:,}"
    return BadInput(
        f"This file has {found} columns, but we can read at most {MAX_COLUMNS:,}. Please keep "
        "the columns you need and try again.",
        code="too_many_columns",
    )


def name_too_long(name: str, more: bool = False) -> BadInput:
    length = f"more than {len(name):,}" if more else f"{len(name):,}"
    start = name[:30].strip()
    return BadInput(
        f"A column name is {length} characters long (it starts '{start}…'), but names can be at "
        f"most {MAX_NAME_CHARS}. Please shorten it, or check that the first line of the file "
        "holds the column names.",
        code="column_name_too_long",
    )


def check_cells(df: pd.DataFrame, data: bytes, encoding: str, lines_read: int) -> None:
    """Refuse a value longer than MAX_CELL_CHARS.

    df is pandas' table straight from `data`, which took `lines_read` lines in all (header
    included). When every line is shorter than the limit and each row took one line, no value
    can be longer: measuring every text value is left for the rare file where that fails.
    """
    if len(data) <= MAX_CELL_CHARS or _only_short_rows(data, encoding, lines_read):
        return
    for name in df.columns:
        column = df[name]
        if not (pd.api.types.is_string_dtype(column) or column.dtype == object):
            continue
        lengths = column.map(len, na_action="ignore")  # tolerant of the odd non-text value
        longest = lengths.max()
        if pd.notna(longest) and longest > MAX_CELL_CHARS:
            raise BadInput(
                f"A value in the column '{name}' is {int(longest):,} characters long, but a value "
                f"can be at most {_mb(MAX_CELL_CHARS)}. Please check that the file is a table "
                "of data.",
                code="cell_too_large",
            )


def _only_short_rows(data: bytes, encoding: str, lines_read: int) -> bool:
    if encoding.startswith("utf-16"):
        return False  # a 0x0A byte may be half of a character there, not a line break
    # A line of MAX_CELL_CHARS bytes or more would cover one of these halves whole.
    half = MAX_CELL_CHARS // 2
    for start in range(0, len(data) - half + 1, half):
        if data.find(b"\n", start, start + half) < 0:
            return False
    if b'"' not in data:
        return True  # no quotes: no value can run over several lines
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False  # a bare \r ends a row too, so counting \n would say nothing
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    return lines == lines_read  # each row took one line: no quoted value ran over several


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"
