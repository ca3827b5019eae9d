"""Streaming multipart uploads: the file goes straight to a temporary file on the data folder and
the upload is refused as soon as it passes the size limit, so nothing large is ever held."""

from __future__ import annotations

import email.utils
import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from services.common.errors import AppError, BadInput

FILE_FIELD = "file"
_MAX_FIELD_BYTES = 64 * 1024


class TooLarge(AppError):
    status = 413
    code = "too_large"


@dataclass
class Upload:
    """One multipart upload: the file (already on disk) and the small text fields beside it."""

    path: Path
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    received_file: bool = False


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    value: bytearray = field(default_factory=bytearray)


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise BadInput(
            "Please send the file as a form upload (multipart/form-data) in a field named 'file'.",
            code="not_multipart",
        )
    return options[b"boundary"]


async def receive_upload(
    content_type: str, body: AsyncIterator[bytes], into: Path, limit_bytes: int, limit_mb: int
) -> Upload:
    """Parse the request body as it arrives, writing the `file` field to `into`."""
    upload = Upload(path=into)
    part = _Part()
    too_large = TooLarge(
        f"The file is larger than the {limit_mb} MB limit. Please upload a smaller file."
    )

    with into.open("wb") as sink:

        def on_part_begin() -> None:
            nonlocal part
            part = _Part()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            part.header_field += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            part.header_value += data[start:end]

        def on_header_end() -> None:
            if bytes(part.header_field).lower() == b"content-disposition":
                _, options = parse_options_header(bytes(part.header_value))
                part.name = options.get(b"name", b"").decode("utf-8", "replace")
                part.filename = _filename(bytes(part.header_value), options)
            part.header_field.clear()
            part.header_value.clear()

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if part.name == FILE_FIELD and part.filename is not None:
                _write(sink, upload, data[start:end], limit_bytes, too_large)
            elif len(part.value) + end - start <= _MAX_FIELD_BYTES:
                part.value += data[start:end]

        def on_part_end() -> None:
            if part.name == FILE_FIELD and part.filename is not None:
                upload.filename, upload.received_file = part.filename, True
            elif part.name:
                upload.fields[part.name] = part.value.decode("utf-8", "replace")

        parser = MultipartParser(
            _boundary(content_type),
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    if not upload.received_file:
        raise BadInput("Please choose a CSV file to upload (form field 'file').", code="no_file")
    return upload


_EXTENDED_NAME = re.compile(rb"filename\*\s*=\s*([^;]+)", re.IGNORECASE)
# What browsers escape in a form's file name (the HTML standard): a quote and line breaks.
_BROWSER_ESCAPES = {"%22": '"', "%0D": "\r", "%0A": "\n"}


def _filename(header: bytes, options: dict[bytes, bytes]) -> str | None:
    """The part's file name: the RFC 5987 `filename*` when given (some clients send only it),
    else `filename`, with the browsers' escapes undone; None when the part is not a file."""
    extended = _EXTENDED_NAME.search(header)
    if extended:
        charset, _, encoded = email.utils.decode_rfc2231(extended.group(1).decode("latin-1"))
        try:
            return urllib.parse.unquote(encoded.strip('"'), encoding=charset or "utf-8")
        except LookupError:  # an unknown charset: the plain name, if any, will do
            pass
    if b"filename" not in options:
        return None
    name = options[b"filename"].decode("utf-8", "replace")
    for escaped, plain in _BROWSER_ESCAPES.items():
        name = name.replace(escaped, plain).replace(escaped.lower(), plain)
    return name


def _write(sink: BinaryIO, upload: Upload, data: bytes, limit: int, too_large: TooLarge) -> None:
    upload.size += len(data)
    if upload.size > limit:
        raise too_large
    sink.write(data)


def looks_like_csv(filename: str, head: bytes) -> bool:
    """A CSV is text: refuse spreadsheets, images and other binary files up front."""
    name = filename.lower()
    if name.endswith(
        (
            ".xlsx",
            ".xls",
            ".xlsm",
            ".ods",
            ".zip",
            ".gz",
            ".pdf",
            ".png",
            ".jpg",
            ".jpeg",
            ".parquet",
            ".json",
        )
    ):
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs but is still text
        return True
    return b"\x00" not in head[:4096]
