"""What text encoding, separator and number format a CSV uses, judged from its first bytes."""

from __future__ import annotations

import codecs
import csv
import io
import re

from services.common.errors import BadInput

SEPARATORS = (",", ";", "\t", "|")
_MAGIC = {
    b"PK\x03\x04": "This looks like an Excel or zip file; please save it as CSV and try again.",
    b"\xd0\xcf\x11\xe0": "This looks like an Excel file; please save it as CSV and try again.",
    b"%PDF": "This is a PDF, not a CSV file.",
}
_COMMA_DECIMAL = re.compile(r"^-?\d+,\d+$")
_DOT_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_THOUSANDS_DOT = re.compile(r"^-?\d{1,3}(\.\d{3})+(,\d+)?$")
_THOUSAND_COMMA = re.compile(r"^-?[1-9]\d{0,2},\d{3}$")


def encoding_of(head: bytes, complete: bool) -> str:
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


def refuse_binary(head: bytes, text: str, encoding: str) -> None:
    for magic, detail in _MAGIC.items():
        if head.startswith(magic):
            raise BadInput(detail, code="bad_csv")
    control = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f")
    if (not encoding.startswith("utf-16") and b"\x00" in head) or control > len(text) * 0.01:
        raise BadInput("This file doesn't look like a CSV text file.", code="bad_csv")


def separator(text: str) -> tuple[str, list[list[str]]]:
    """Pick the separator that splits the sample into the most columns, consistently."""
    best: tuple[tuple, str, list[list[str]]] | None = None
    for sep in SEPARATORS:
        records = records_of(text, sep)
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
        raise BadInput("The file is empty.", code="bad_csv")
    return best[1], best[2]


def records_of(text: str, sep: str, limit: int = 200) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
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


def number_format(sep: str, rows: list[list[str]]) -> tuple[str, str | None]:
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
