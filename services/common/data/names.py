"""Names shown on screen (a dataset's, a column's) made safe to show: no path parts, control
characters or bidirectional overrides that could disguise one name as another."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

DEFAULT_DISPLAY_NAME = "data.csv"
MAX_DISPLAY_CHARS = 120
# Marks and overrides that reorder text on screen ("invoice\u202egpj.csv" shows as a .jpg); see
# https://www.unicode.org/reports/tr9/#Explicit_Directional_Formatting_Characters
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_HIDDEN = re.compile(f"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f{_BIDI}\ufeff]")


def clean_label(text: str) -> str:
    """text without control or bidirectional characters, its runs of spaces, tabs and line
    breaks made one space."""
    return " ".join(_HIDDEN.sub("", unicodedata.normalize("NFC", text)).split())


def display_name(filename: str) -> str:
    """A file name as sent by a browser or a script, made a plain name to show: the last part of
    any path (/ or \\), cleaned, at most MAX_DISPLAY_CHARS long, "data.csv" when nothing is left."""
    name = clean_label(re.split(r"[/\\]", filename)[-1])
    if name in ("", ".", ".."):
        return DEFAULT_DISPLAY_NAME
    if len(name) <= MAX_DISPLAY_CHARS:
        return name
    suffix = PurePath(name).suffix
    suffix = suffix if len(suffix) <= 10 else ""
    return name[: MAX_DISPLAY_CHARS - len(suffix) - 1].rstrip() + "…" + suffix
