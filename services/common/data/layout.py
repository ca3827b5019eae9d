"""How a CSV is laid out, read as a person would: an Excel "sep=;" first line, a first line that
is data rather than column names, and a row of units (kg, cm, EUR) under the column names."""

from __future__ import annotations

import re

import pandas as pd

MAX_UNIT_CHARS = 24
# Excel writes "sep=;" as the first line to name the separator; some write "sep=\t" literally.
_SEP_LINE = re.compile(r"sep=(\\t|\t|[^\w\s\"'])[ \t]*(\r?\n|$)", re.IGNORECASE)
_SEP_LINE_BYTES = re.compile(rb"(\xef\xbb\xbf)?sep=(\\t|\t|[^\w\s\"'])[ \t]*\r?", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SAMPLE = 500


def sep_line(text: str) -> tuple[str | None, str]:
    """The separator an Excel "sep=" first line names (None without one), and the text after it."""
    m = _SEP_LINE.match(text)
    if not m:
        return None, text
    return ("\t" if m.group(1) == "\\t" else m.group(1)), text[m.end() :]


def is_sep_line(line: bytes) -> bool:
    """The raw first line (without its \\n) is a "sep=" line; UTF-16 zero bytes are ignored."""
    return bool(_SEP_LINE_BYTES.fullmatch(line.replace(b"\x00", b"").lstrip(b"\xff\xfe")))


class Numbers:
    """Tells numbers written with a given decimal mark and thousands separator from text."""

    def __init__(self, decimal: str, thousands: str | None, missing: set[str]):
        self.decimal, self.thousands, self.missing = decimal, thousands, missing

    def missing_value(self, text: str) -> bool:
        return text.strip() in self.missing

    def is_number(self, text: str) -> bool:
        return bool(_NUMBER.fullmatch(self.plain(text)))

    def convert(self, values: pd.Series) -> pd.Series | None:
        """values as numbers, or None when a present value is not one."""
        present = values.dropna()
        for part in (present.iloc[:_SAMPLE], present):  # a cheap rejection first
            numbers = pd.to_numeric(part.astype(str).map(self.plain), errors="coerce")
            if numbers.isna().any():
                return None
        return pd.to_numeric(values.astype(object).map(self.plain, na_action="ignore"))

    def plain(self, text: str) -> str:
        """text as Python writes the number it may be: 1.234,5 -> 1234.5."""
        text = text.strip()
        if self.thousands:
            text = text.replace(self.thousands, "")
        return text.replace(self.decimal, ".") if self.decimal != "." else text


def first_line_is_data(records: list[list[str]], numbers: Numbers) -> bool:
    """The first record holds data, not names: each of its values fits its column (a number above
    numbers, or a value the column holds again below), and at least one is a number.

    A header naming a column "2023" among words is still a header: the words are not values of
    their columns. Numbers that count up (0, 1, 2 or 2021, 2022) are taken for names too.
    """
    first, rows = records[0], records[1:]
    if not rows:
        return False
    found: list[float] = []
    for i, field in enumerate(first):
        if numbers.missing_value(field):
            continue
        below = [r[i] for r in rows if i < len(r) and not numbers.missing_value(r[i])]
        if not below:
            return False
        if numbers.is_number(field):
            if not all(numbers.is_number(v) for v in below):
                return False
            found.append(float(numbers.plain(field)))
        elif field not in below:
            return False
    return bool(found) and not _counts_up(found)


def _counts_up(values: list[float]) -> bool:
    start = values[0]
    run = [start + i for i in range(len(values))]
    return len(values) > 1 and start == int(start) and values == run


def units_row(df: pd.DataFrame, numbers: Numbers) -> dict[str, str]:
    """{column: unit} when the first row holds short words (kg, cm, EUR) above columns that are
    numbers below it, for most of its filled cells; {} otherwise."""
    if len(df) < 2:
        return {}
    filled: dict[str, str] = {}
    for name, value in df.iloc[0].items():
        if isinstance(value, str):
            if len(value) > MAX_UNIT_CHARS or numbers.is_number(value):
                return {}
            filled[str(name)] = value
        elif pd.notna(value):
            return {}  # a number or a yes/no: data, not a unit
    units = {
        name: unit
        for name, unit in filled.items()
        if numbers.convert(df[name].iloc[1:]) is not None and df[name].iloc[1:].notna().any()
    }
    return units if units and 2 * len(units) > len(filled) else {}
