"""Files built to hurt the reader: refused with a plain reason and a stable code, the header ones
before pandas parses a byte of the body. Big inputs are made here, never kept as fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from services.common.data import limits, read_csv, reading
from services.common.errors import BadInput

ROWS = "".join(f"{i},{i * 2}\n" for i in range(12))


def refused(data: bytes, code: str) -> str:
    with pytest.raises(BadInput) as caught:
        read_csv(data)
    assert caught.value.code == code
    assert caught.value.status == 400
    return caught.value.detail


@pytest.fixture
def pandas_unused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails the test if the file reaches pandas' parser."""

    def parse(*args, **kwargs):
        raise AssertionError("pandas was asked to parse a file the header should have refused")

    monkeypatch.setattr(reading.pd, "read_csv", parse)
    yield


def wide(columns: int, rows: int = 1) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return (header + "\n" + (",".join("1" for _ in range(columns)) + "\n") * rows).encode()


@pytest.mark.usefixtures("pandas_unused")
@pytest.mark.parametrize("columns", [100_000, 50_000, 1_001])
def test_too_many_columns_are_refused_from_the_header(columns: int) -> None:
    detail = refused(wide(columns), "too_many_columns")
    assert f"{columns:,} columns" in detail and "at most 1,000" in detail


def test_a_thousand_columns_are_read() -> None:
    assert read_csv(wide(1_000, rows=12)).shape == (12, 1_000)


@pytest.mark.usefixtures("pandas_unused")
def test_a_column_name_of_a_mebibyte_is_refused() -> None:
    data = ("id," + "n" * 1024 * 1024 + "\n").encode() + ROWS.encode()
    assert "characters long" in refused(data, "column_name_too_long")


@pytest.mark.usefixtures("pandas_unused")
def test_a_name_of_201_characters_is_refused() -> None:
    data = ("id," + "n" * 201 + "\n" + ROWS).encode()
    assert "201 characters" in refused(data, "column_name_too_long")


def test_a_name_of_200_characters_is_read() -> None:
    assert read_csv(("id," + "n" * 200 + "\n" + ROWS).encode()).columns[1] == "n" * 200


def test_a_long_quoted_name_holding_separators_is_refused_after_all() -> None:
    name = "part, " * 40  # no piece between separators is long: only the whole name is
    data = (f'id,"{name}"\n' + ROWS).encode()
    refused(data, "column_name_too_long")


@pytest.mark.usefixtures("pandas_unused")
@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"abc," * 1_000_000, "too_many_columns"),
        (b"abc def " * 1_000_000, "column_name_too_long"),
        (b"x" * 5_000_000, "column_name_too_long"),
    ],
)
def test_a_first_line_that_never_ends_is_refused(line: bytes, code: str) -> None:
    assert "more than" in refused(line, code)


def test_a_first_line_that_never_ends_with_short_names_says_so() -> None:
    with pytest.raises(BadInput) as caught:
        limits.check_first_line("abc," * 500, ends=False)
    assert caught.value.code == "header_too_long"
    assert "1 MB" in caught.value.detail


def test_a_long_header_that_ends_is_read() -> None:
    """500 names of 150 characters: a first line far past the 64 KB sniffed before."""
    names = [f"{i:03d}" + "n" * 147 for i in range(500)]
    data = ",".join(names) + "\n"
    data += "".join(",".join(str(r) for _ in names) + "\n" for r in range(12))
    df = read_csv(data.encode())
    assert list(df.columns) == names and len(df) == 12


def test_a_cell_of_45_megabytes_is_refused() -> None:
    data = b"note,n\n" + b"x" * 45_000_000 + b",1\n" + ROWS.encode()
    detail = refused(data, "cell_too_large")
    assert "'note'" in detail and "45,000,000 characters" in detail


def test_a_quoted_cell_over_many_lines_is_refused() -> None:
    cell = b"word, word\n" * 100_000  # every line short; the value is 1.1 MB
    data = b'note,n\n"' + cell + b'",1\n' + b"".join(b"a,%d\n" % i for i in range(12))
    refused(data, "cell_too_large")


def test_a_cell_just_within_the_limit_is_read() -> None:
    data = b"note,n\n" + b"x" * limits.MAX_CELL_CHARS + b",1\n" + ROWS.encode()
    assert len(read_csv(data)["note"].iloc[0]) == limits.MAX_CELL_CHARS


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_a_big_ordinary_file_passes_the_cell_check(ending: str) -> None:
    rows = [f'"{i}, or so",{i},"line one{ending}line two"' for i in range(30_000)]
    data = ending.join(["text,n,note", *rows, "", "last,1,x", ""]).encode()
    assert len(data) > limits.MAX_CELL_CHARS
    df = read_csv(data)
    assert len(df) == 30_001 and df["note"].iloc[0].startswith("line one")


def test_short_rows_need_no_measuring() -> None:
    """Each row on one short line, no quotes, or quotes but no value over two lines: the bytes
    settle it. A bare \\r, a long line or a value over several lines leave it to the values."""
    lines = b"a,b\n" + b"x,1\n" * 300_000
    assert limits._only_short_rows(lines, "utf-8", 300_001)
    assert limits._only_short_rows(lines.replace(b"x", b'"x"'), "utf-8", 300_001)
    assert not limits._only_short_rows(lines.replace(b"x", b'"x"'), "utf-8", 300_000)
    assert not limits._only_short_rows(lines.replace(b"\n", b"\r"), "utf-8", 300_001)
    assert not limits._only_short_rows(lines, "utf-16", 300_001)
    assert not limits._only_short_rows(b"a\n" + b"x" * limits.MAX_CELL_CHARS, "utf-8", 2)


def test_check_cells_measures_when_the_bytes_cannot_tell() -> None:
    big = "y" * (limits.MAX_CELL_CHARS + 1)
    frame = pd.DataFrame({"a": ["x", big], "n": [1, 2]})
    with pytest.raises(BadInput) as caught:
        limits.check_cells(frame, big.encode() + b"\n", "utf-8", lines_read=1)
    assert caught.value.code == "cell_too_large"
