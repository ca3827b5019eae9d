"""Read a messy business CSV into a DataFrame, or refuse it with a plain-English reason.

The encoding and separator are decided from the first ~64 KB only, so a 50 MB file costs one
pass of pandas' C parser.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from services.common.errors import BadInput

SNIFF_BYTES = 64 * 1024
SEPARATORS = (",", ";", "\t", "|")
# pandas' own defaults already cover "", NA, N/A, NULL, null, NaN, nan, None; these add the rest.
MISSING = ["", "NA", "N/A", "n/a", "na", "null", "NULL", "Null", "None", "none", "NONE", "nan"]
MISSING += ["NaN", "NAN", "-", "?", "#N/A"]
MIN_COLUMNS = 2
MIN_ROWS = 10

_MAGIC = {
    b"PK\x03\x04": "This looks like an Excel or zip file; please save it as CSV and try again.",
    b"\xd0\xcf\x11\xe0": "This looks like an Excel file; please save it as CSV and try again.",
    b"%PDF": "This is a PDF, not a CSV file.",
}
_COMMA_DECIMAL = re.compile(r"^-?\d+,\d+$")
_DOT_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_THOUSANDS_DOT = re.compile(r"^-?\d{1,3}(\.\d{3})+(,\d+)?$")
_THOUSAND_COMMA = re.compile(r"^-?[1-9]\d{0,2},\d{3}$")


@dataclass(frozen=True)
class _Dialect:
    encoding: str
    sep: str
    decimal: str
    thousands: str | None


def read_csv(
    source: Path | bytes, *, min_rows: int = MIN_ROWS, min_columns: int = MIN_COLUMNS
) -> pd.DataFrame:
    """Read a CSV file (a path or its bytes) into a tidy DataFrame.

    Raises BadInput (codes bad_csv, too_few_columns, too_few_rows) when it cannot be used.
    The minimums suit training data; scoring a file of new rows may pass min_rows=1.
    """
    head, complete = _head(source)
    dialect, header = _sniff(head, complete)
    _refuse_duplicates(header)
    df = _parse(source, dialect)
    df = _tidy(df)
    _check_shape(df, min_rows, min_columns)
    return df


def _bad(detail: str, code: str = "bad_csv") -> BadInput:
    return BadInput(detail, code=code)


def _head(source: Path | bytes) -> tuple[bytes, bool]:
    """The first SNIFF_BYTES of the file, and whether that is the whole file."""
    if isinstance(source, bytes | bytearray):
        return bytes(source[:SNIFF_BYTES]), len(source) <= SNIFF_BYTES
    with open(source, "rb") as f:
        head = f.read(SNIFF_BYTES + 1)
    return head[:SNIFF_BYTES], len(head) <= SNIFF_BYTES


def _sniff(head: bytes, complete: bool) -> tuple[_Dialect, list[str]]:
    encoding = _encoding(head, complete)
    text = head.decode(encoding, errors="ignore")
    if not text.strip():
        raise _bad("The file is empty.")
    _refuse_binary(head, text, encoding)
    if not complete and "\n" in text:
        text = text.rsplit("\n", 1)[0]  # the last line was cut at the sniff boundary
    sep, records = _separator(text)
    decimal, thousands = _number_format(sep, records[1:])
    header = records[0] if records else []
    return _Dialect(encoding, sep, decimal, thousands), header


def _encoding(head: bytes, complete: bool) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    no_bom = _utf16_without_bom(head)
    if no_bom:
        return no_bom
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if not complete and e.start >= len(head) - 3:
            return "utf-8"  # only a multi-byte character cut at the sniff boundary
    # Windows exports are cp1252 more often than true Latin-1; Latin-1 decodes anything.
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _utf16_without_bom(head: bytes) -> str | None:
    """Mostly-ASCII UTF-16 has a zero byte in every other place: the odd ones (little-endian)
    or the even ones (big-endian). Binary noise has zeros in both or neither."""
    even, odd = head[0::2], head[1::2]
    if len(odd) < 4:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _refuse_binary(head: bytes, text: str, encoding: str) -> None:
    for magic, detail in _MAGIC.items():
        if head.startswith(magic):
            raise _bad(detail)
    control = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f")
    if (not encoding.startswith("utf-16") and b"\x00" in head) or control > len(text) * 0.01:
        raise _bad("This file doesn't look like a CSV text file.")


def _separator(text: str) -> tuple[str, list[list[str]]]:
    """Pick the separator that splits the sample into the most columns, consistently."""
    best: tuple[tuple, str, list[list[str]]] | None = None
    for sep in SEPARATORS:
        records = _records(text, sep)
        counts = [len(r) for r in records]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        consistency = counts.count(mode) / len(counts)
        # The header must agree, or a decimal comma in every row would pass for a separator.
        key = (counts[0] == mode and consistency >= 0.9 and mode > 1, mode, consistency)
        if best is None or key > best[0]:
            best = (key, sep, records)
    if best is None:
        raise _bad("The file is empty.")
    return best[1], best[2]


def _records(text: str, sep: str, limit: int = 200) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    records = []
    try:
        for record in reader:
            if any(field.strip() for field in record):
                records.append([field.strip() for field in record])
            if len(records) >= limit:
                break
    except csv.Error:
        pass  # a malformed sample line: judge the separator on the lines read so far
    return records


def _number_format(sep: str, rows: list[list[str]]) -> tuple[str, str | None]:
    """(decimal, thousands). European files (';' or tab separated) often write 1,5 for 1.5
    and 1.234,5 for 1234.5; a tab-separated US export may write 1,234 for 1234."""
    if sep == ",":
        return ".", None  # a comma cannot be both the separator and the decimal mark
    fields = [f for row in rows for f in row]
    commas = [f for f in fields if _COMMA_DECIMAL.match(f)]
    dots = sum(1 for f in fields if _DOT_DECIMAL.match(f))
    grouped = sum(1 for f in fields if _THOUSANDS_DOT.match(f) and "," in f)
    if grouped and not dots:
        return ",", "."
    if not commas or len(commas) < dots:
        return ".", None
    if sep != ";" and all(_THOUSAND_COMMA.match(f) for f in commas):
        return ".", ","  # only ever three digits after the comma: thousands, not decimals
    return ",", None


def _refuse_duplicates(header: list[str]) -> None:
    counts = pd.Series([name for name in header if name]).value_counts()
    dups = counts[counts > 1].index.tolist()
    if dups:
        names = ", ".join(f"'{n}'" for n in dups)
        raise _bad(f"Some columns share the same name ({names}); please give each its own name.")


def _parse(source: Path | bytes, dialect: _Dialect) -> pd.DataFrame:
    fallbacks = [dialect.encoding]
    if dialect.encoding in ("utf-8", "utf-8-sig"):
        fallbacks += ["cp1252", "latin-1"]  # a stray non-UTF-8 byte past the sniffed head
    for encoding in fallbacks:
        data = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
        try:
            return pd.read_csv(
                data,
                sep=dialect.sep,
                encoding=encoding,
                decimal=dialect.decimal,
                thousands=dialect.thousands,
                na_values=MISSING,
                index_col=False,  # a trailing separator on every row must not shift the columns
                skipinitialspace=True,
                low_memory=False,  # avoids mixed-type chunks (and their DtypeWarning)
                engine="c",
            )
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError as e:
            raise _bad("The file is empty.") from e
        except (pd.errors.ParserError, ValueError) as e:
            raise _bad(_explain(str(e))) from e
    raise _bad("We couldn't work out the text encoding of this file.")


def _explain(message: str) -> str:
    """Turn a pandas parser message into one plain sentence, naming the line when it can."""
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if m:
        want, line, got = m.groups()
        return f"Line {line} of the file has {got} values, but the header names {want} columns."
    m = re.search(r"EOF inside string starting at row (\d+)", message)
    if m:
        return f"A quote mark near line {int(m.group(1)) + 1} of the file is never closed."
    if "Length of header or names does not match" in message:
        return "Some lines of the file have more values than the header names columns."
    m = re.search(r"line (\d+)", message)
    where = f" (the problem is near line {m.group(1)})" if m else ""
    return f"We couldn't read this file as a table{where}."


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    names = [str(c).strip() or f"Unnamed: {i}" for i, c in enumerate(df.columns)]
    df = df.set_axis(names, axis=1)
    empty_unnamed = [c for c in df.columns if c.startswith("Unnamed:") and df[c].isna().all()]
    df = df.drop(columns=empty_unnamed).dropna(how="all")
    if len(df.columns) and _is_row_number(df.columns[0], df.iloc[:, 0]):
        df = df.drop(columns=df.columns[0])  # an index pandas wrote with to_csv()
    for name in df.columns:
        if pd.api.types.is_string_dtype(df[name]):
            df[name] = _clean_text(df[name])
    return df.reset_index(drop=True)


def _clean_text(values: pd.Series) -> pd.Series:
    """Strip stray spaces; " ? " is missing too, and " 5" then a number after all."""
    stripped = values.str.strip()
    cleaned = stripped.mask(stripped.isin(MISSING))
    if cleaned.isna().sum() == values.isna().sum():
        return cleaned  # nothing newly missing: pandas already judged the column's type
    numbers = pd.to_numeric(cleaned, errors="coerce")
    return numbers if numbers.notna().sum() == cleaned.notna().sum() else cleaned


def _is_row_number(name: str, values: pd.Series) -> bool:
    if not name.startswith("Unnamed:") or not pd.api.types.is_integer_dtype(values):
        return False
    start = values.iloc[0] if len(values) else 0
    return start in (0, 1) and bool((values.diff().iloc[1:] == 1).all())


def _check_shape(df: pd.DataFrame, min_rows: int, min_columns: int) -> None:
    if len(df.columns) < min_columns:
        found = "only one column" if len(df.columns) == 1 else "no columns"
        why = ": one to predict and one to learn from" if min_columns == 2 else ""
        raise _bad(
            f"We found {found} in this file, but we need at least {min_columns}{why}.",
            code="too_few_columns",
        )
    if len(df) < min_rows:
        rows = "no rows" if len(df) == 0 else f"only {len(df)} rows"
        raise _bad(
            f"The file has {rows} of data, but we need at least {min_rows}.",
            code="too_few_rows",
        )
