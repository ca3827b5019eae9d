"""Turning a request into predictions with a model bundle (pure, runs in a worker thread)."""

from __future__ import annotations

import codecs
import io
import re
from typing import Any

import pandas as pd

from services.common.data import reading
from services.common.data.reading import read_csv

# A cell starting with one of these is run as a formula by spreadsheets (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def score_csv(bundle: Any, content: bytes) -> bytes:
    """The uploaded rows, as read, with columns appended: the prediction; for labels, the top
    probability (confidence) and high / medium / low (how_sure); and why a row is unusual.

    Written back in the file's own separator, decimal mark and encoding (shared/API.md), with
    every text cell a spreadsheet would run as a formula made plain text."""
    frame = read_csv(content, min_rows=1, min_columns=1)  # any file worth scoring, even one row
    answers = bundle.answer_frame(frame)
    out = frame.copy()
    out[_free_name(out, "prediction")] = answers.predictions
    if answers.probabilities is not None:
        top = [round(max(p.values()), 4) for p in answers.probabilities]
        out[_free_name(out, "confidence")] = top
        out[_free_name(out, "how_sure")] = answers.confidence
    out[_free_name(out, "unusual")] = [" ".join(reasons) for reasons in answers.unusual]
    return _written_like(content, defuse_formulas(out))


def defuse_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each text cell and column name that starts like a formula (`=`, `+`,
    `-`, `@`, tab, carriage return) prefixed with a quote, so it shows as text; plain numbers
    such as `-5` or `+3.2` stay as they are."""
    out = frame.set_axis([defuse(str(name)) for name in frame.columns], axis=1)
    for name in out.columns:
        if not pd.api.types.is_numeric_dtype(out[name]):
            out[name] = out[name].map(defuse)
    return out


def defuse(value: Any) -> Any:
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def _written_like(content: bytes, frame: pd.DataFrame) -> bytes:
    dialect = reading.sniff_format(content)
    buffer = io.StringIO()
    if dialect.skiprows:  # Excel's "sep=" first line, kept so Excel splits the answer alike
        buffer.write(f"sep={dialect.sep}\n")
    frame.to_csv(buffer, index=False, sep=dialect.sep, decimal=dialect.decimal)
    try:
        return buffer.getvalue().encode(dialect.encoding)
    except UnicodeEncodeError:  # an answer the file's code page cannot spell: all in UTF-8
        return buffer.getvalue().encode("utf-8-sig")


_CHARSETS = {
    "utf-8-sig": "utf-8",
    "utf-16-le": "utf-16le",
    "utf-16-be": "utf-16be",
    "cp1252": "windows-1252",
    "latin-1": "iso-8859-1",
}


def charset_of(content: bytes, scored: bytes) -> str:
    """The charset to name in the scored file's Content-Type: the uploaded file's own, or
    UTF-8 when the answer had to be written so (it then starts with a BOM)."""
    if scored.startswith(codecs.BOM_UTF8):
        return "utf-8"
    encoding = reading.sniff_format(content).encoding
    return _CHARSETS.get(encoding, encoding)


def _free_name(frame: pd.DataFrame, wanted: str) -> str:
    name, n = wanted, 1
    while name in frame.columns:
        n += 1
        name = f"{wanted}_{n}"
    return name
