"""Read a messy business CSV into a DataFrame, or refuse it with a plain-English reason.

The encoding, separator and layout (see layout.py) are decided from the first ~64 KB only, and
the header is checked against the limits (see limits.py) before pandas' C parser reads the rest,
so a 50 MB file costs one pass of that parser and a hostile one is refused in a moment.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from services.common.data import layout, limits, sniffing
from services.common.data.tidying import MISSING, refuse_duplicates, tidy
from services.common.errors import BadInput

__all__ = ["MISSING", "read_csv"]

SNIFF_BYTES = 64 * 1024
MIN_COLUMNS = 2
MIN_ROWS = 10

_BLANK_LINES = re.compile(rb"[\r\n]*")
_LINE_END = re.compile(rb"[\r\n]")  # a bare \r ends a line too (old Mac exports)


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written, as read_csv found out."""

    encoding: str
    sep: str
    decimal: str
    thousands: str | None
    skiprows: int = 0  # an Excel "sep=" line
    header: bool = True  # False: the first line is data

    def numbers(self) -> layout.Numbers:
        return layout.Numbers(self.decimal, self.thousands, set(MISSING))


def read_csv(
    source: Path | bytes, *, min_rows: int = MIN_ROWS, min_columns: int = MIN_COLUMNS
) -> pd.DataFrame:
    """Read a CSV file (a path or its bytes) into a tidy DataFrame.

    Raises BadInput (codes bad_csv, too_few_columns, too_few_rows, too_many_columns,
    column_name_too_long, header_too_long, cell_too_large) when it cannot be used.
    The minimums suit training data; scoring a file of new rows may pass min_rows=1.
    Whatever was read other than as written (a units row set aside, columns named) is told in
    plain words in df.attrs["notes"], a list of sentences.
    """
    data = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    dialect, header = _sniff(data)
    if dialect.header:
        refuse_duplicates(header)
    df = _parse(data, dialect)
    lines_read = dialect.skiprows + int(dialect.header) + len(df)
    limits.check_cells(df, data, dialect.encoding, lines_read)
    df, notes = tidy(df, dialect.header, dialect.numbers())
    _check_shape(df, min_rows, min_columns)
    df.attrs["notes"] = notes
    return df


def sniff_format(data: bytes) -> CsvFormat:
    """How `data` is written (encoding, separator, decimal mark, an Excel "sep=" line), as
    read_csv reads it: a scored file is written back the same way."""
    return _sniff(data)[0]


def _bad(detail: str, code: str = "bad_csv") -> BadInput:
    return BadInput(detail, code=code)


def _head(data: bytes) -> tuple[bytes, bool, bool]:
    """The first SNIFF_BYTES of the file, stretched to hold the whole header line; whether that
    is the whole file; whether the header line ends within MAX_HEADER_BYTES."""
    end = _header_end(data)
    if end < 0 and len(data) > limits.MAX_HEADER_BYTES:
        return data[: limits.MAX_HEADER_BYTES], False, False
    if end < 0:
        return data, True, True  # one line, the header alone
    size = SNIFF_BYTES if end < SNIFF_BYTES else end + 1 + SNIFF_BYTES
    return data[:size], len(data) <= size, True


def _header_end(data: bytes) -> int:
    """Where the header line ends (after any blank lines and "sep=" line), or -1 when it does
    not within MAX_HEADER_BYTES."""
    blank = _BLANK_LINES.match(data)
    start = blank.end() if blank else 0
    end = _line_end(data, start)
    if end >= 0 and layout.is_sep_line(data[start:end]):
        end = _line_end(data, end + 1)
    return end


def _line_end(data: bytes, start: int) -> int:
    found = _LINE_END.search(data, start, start + limits.MAX_HEADER_BYTES)
    if found and found.group() == b"\r" and data[found.end() : found.end() + 1] == b"\n":
        return found.end()  # \r\n: the line ends at its \n
    return found.start() if found else -1


def _sniff(data: bytes) -> tuple[CsvFormat, list[str]]:
    head, complete, header_ends = _head(data)
    encoding = sniffing.encoding_of(head, complete)
    text = head.decode(encoding, errors="ignore")
    if not text.strip():
        raise _bad("The file is empty.")
    sniffing.refuse_binary(head, text, encoding)
    named_sep, text = layout.sep_line(text)
    first_line = re.split(r"[\r\n]", text.lstrip("\r\n"), maxsplit=1)[0]
    limits.check_first_line(first_line, ends=header_ends)
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[:cut] if cut > 0 else text  # the last line was cut at the sniff boundary
    sep, records = (
        (named_sep, sniffing.records_of(text, named_sep)) if named_sep else sniffing.separator(text)
    )
    if not records:
        raise _bad("The file is empty.")
    limits.check_names(records[0])
    decimal, thousands = sniffing.number_format(sep, records[1:])
    dialect = CsvFormat(encoding, sep, decimal, thousands, skiprows=int(named_sep is not None))
    if layout.first_line_is_data(records, dialect.numbers()):
        dialect = replace(dialect, header=False)
    return dialect, records[0]


def _parse(data: bytes, dialect: CsvFormat) -> pd.DataFrame:
    fallbacks = [dialect.encoding]
    if dialect.encoding in ("utf-8", "utf-8-sig"):
        fallbacks += ["cp1252", "latin-1"]  # a stray non-UTF-8 byte past the sniffed head
    for encoding in fallbacks:
        try:
            return pd.read_csv(
                io.BytesIO(data),
                sep=dialect.sep,
                skiprows=dialect.skiprows,
                header=0 if dialect.header else None,
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
