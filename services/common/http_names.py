"""File names in HTTP headers: any name a person gave a file, made safe to answer with.

A header is Latin-1 and one line, while a file name may be `données_日本.csv`, hold quotes or
line breaks, or a path. `attachment()` builds Content-Disposition as RFC 6266 asks: an ASCII
`filename="..."` for old clients and the real name as UTF-8 in `filename*` (RFC 5987)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# Control characters (line breaks, NUL...) and the bidirectional ones that make a name read
# differently from what it is (a right-to-left override turns "exe.csv" around).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def attachment(filename: str, fallback: str = "download") -> str:
    """`attachment; filename="<ASCII>"; filename*=UTF-8''<the name>` for a download."""
    name = safe_filename(filename) or fallback
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r'["\\]', "_", ascii_name).strip() or fallback
    if ascii_name.startswith("."):  # "日本.csv" keeps its extension: "download.csv"
        ascii_name = fallback + ascii_name
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def safe_filename(filename: str) -> str:
    """The name alone: no folders, control or bidirectional characters, or leading dots."""
    name = re.split(r"[/\\]", filename)[-1]
    return _UNSAFE.sub("", name).strip().lstrip(".").strip()
