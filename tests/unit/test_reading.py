"""read_csv on the messy files business users actually export."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.common.data import read_csv
from services.common.errors import BadInput

ROWS = 12


def table(sep: str = ",", rows: int = ROWS) -> str:
    lines = [sep.join(["name", "age", "city"])]
    lines += [
        sep.join([f"person{i}", str(20 + i), "Paris" if i % 2 else "Lyon"]) for i in range(rows)
    ]
    return "\n".join(lines) + "\n"


def refused(data: bytes, code: str) -> str:
    with pytest.raises(BadInput) as caught:
        read_csv(data)
    assert caught.value.code == code
    assert caught.value.status == 400
    return caught.value.detail


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_separators_are_sniffed(sep: str) -> None:
    df = read_csv(table(sep).encode())
    assert list(df.columns) == ["name", "age", "city"]
    assert len(df) == ROWS
    assert df["age"].tolist()[:2] == [20, 21]


def test_reads_a_path(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(table(";"), encoding="utf-8")
    assert read_csv(path).shape == (ROWS, 3)


def test_utf8_with_bom() -> None:
    df = read_csv(codecs.BOM_UTF8 + table().encode())
    assert df.columns[0] == "name"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom(encoding: str) -> None:
    data = table("\t").replace("Paris", "Zürich").encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    df = read_csv(data)
    assert list(df.columns) == ["name", "age", "city"]
    assert "Zürich" in set(df["city"])


@pytest.mark.parametrize(("encoding", "sep"), [("utf-16-le", "\t"), ("utf-16-be", ",")])
def test_utf16_without_bom(encoding: str, sep: str) -> None:
    df = read_csv(table(sep).replace("Paris", "Zürich").encode(encoding))
    assert list(df.columns) == ["name", "age", "city"]
    assert "Zürich" in set(df["city"]) and df["age"].iloc[1] == 21


def test_latin1_with_semicolons_and_decimal_commas() -> None:
    text = "ville;prix\n" + "".join(f"Orléans;{i},5\n" for i in range(ROWS))
    df = read_csv(text.encode("latin-1"))
    assert df["ville"].iloc[0] == "Orléans" and df["prix"].iloc[2] == 2.5


def test_latin1_falls_back() -> None:
    df = read_csv(table().replace("Paris", "Orléans").encode("latin-1"))
    assert "Orléans" in set(df["city"])


def test_latin1_after_the_sniffed_head_still_reads() -> None:
    text = table(rows=5000) + "late,99,Besançon\n"
    df = read_csv(text.encode("latin-1"))
    assert df["city"].iloc[-1] == "Besançon"


def test_decimal_comma_with_semicolons() -> None:
    text = "price;weight;label\n" + "".join(f"{i},5;1.234,{i};x\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert df["price"].iloc[1] == 1.5
    assert df["weight"].iloc[2] == pytest.approx(1234.2)


@pytest.mark.parametrize("sep", ["\t", "|"])
def test_decimal_comma_with_tabs_and_pipes(sep: str) -> None:
    text = f"price{sep}weight{sep}label\n"
    text += "".join(f"{i},5{sep}1.234,{i}{sep}x\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == ["price", "weight", "label"]
    assert df["price"].iloc[1] == 1.5
    assert df["weight"].iloc[2] == pytest.approx(1234.2)


def test_decimal_comma_with_tabs_and_two_decimals() -> None:
    text = "price\tlabel\n" + "".join(f"{i},99\tx\n" for i in range(ROWS))
    assert read_csv(text.encode())["price"].iloc[3] == pytest.approx(3.99)


def test_thousands_comma_in_a_tab_separated_us_export() -> None:
    text = "price\tlabel\n" + "".join(f"{i + 1},250\tx\n" for i in range(ROWS)) + "999\ty\n"
    df = read_csv(text.encode())
    assert df["price"].tolist()[:2] == [1250, 2250] and df["price"].iloc[-1] == 999


def test_decimal_comma_in_two_columns_is_not_taken_for_a_separator() -> None:
    text = "a;b\n" + "".join(f"{i},5;{i},25\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == ["a", "b"]
    assert df["b"].iloc[0] == 0.25


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_quoted_fields_with_separators_and_newlines(sep: str) -> None:
    text = f'note,score\n"hello{sep} world",1\n"two\nlines",2\n' + "x,3\n" * ROWS
    df = read_csv(text.replace(",", sep).encode())
    assert df["note"].iloc[0] == f"hello{sep} world"
    assert df["note"].iloc[1] == "two\nlines"
    assert len(df) == ROWS + 2


def test_header_whitespace_is_stripped_and_trailing_empty_column_dropped() -> None:
    text = " name , age ,\n" + "".join(f"p{i},{i},\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == ["name", "age"]


def test_trailing_separator_on_data_rows_only_does_not_shift_columns() -> None:
    text = "name,age\n" + "".join(f"p{i},{i},\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == ["name", "age"]
    assert df["age"].iloc[3] == 3


def test_pandas_index_column_is_dropped() -> None:
    frame = pd.DataFrame({"x": range(ROWS), "y": list("ab" * (ROWS // 2))})
    df = read_csv(frame.to_csv().encode())
    assert list(df.columns) == ["x", "y"]


def test_windows_line_endings() -> None:
    df = read_csv(table(";").replace("\n", "\r\n").encode())
    assert list(df.columns) == ["name", "age", "city"] and df["city"].iloc[0] == "Lyon"


def test_missing_spellings_become_missing() -> None:
    spellings = ["", "NA", "N/A", "n/a", "null", "NULL", "None", "nan", "NaN", "-", "?", " ? "]
    spellings += ["#N/A", " NA "]
    text = "a,b\n" + "".join(f"{s},{i}\n" for i, s in enumerate(spellings)) + "1,9\n2,10\n"
    df = read_csv(text.encode())
    assert df["a"].isna().sum() == len(spellings)
    assert pd.api.types.is_numeric_dtype(df["a"])


def test_missing_spellings_in_a_word_column() -> None:
    text = "a,b\n" + "".join(f"{s},{i}\n" for i, s in enumerate(["#N/A", "null", "-"] * 4))
    text += "".join(f"word{i},{i}\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert df["a"].isna().sum() == 12 and df["a"].iloc[-1] == f"word{ROWS - 1}"


def test_a_real_word_is_not_taken_for_missing() -> None:
    text = "status,n\n" + "".join(f"{s},{i}\n" for i, s in enumerate(["missing", "none"] * 6))
    df = read_csv(text.encode())
    assert df["status"].iloc[0] == "missing" and pd.isna(df["status"].iloc[1])


def test_blank_lines_and_empty_rows_are_ignored() -> None:
    text = table().replace("\n", "\n\n", 3) + ",,\n"
    assert len(read_csv(text.encode())) == ROWS


def test_empty_file() -> None:
    assert "empty" in refused(b"", "bad_csv")
    assert "empty" in refused(b"\n \n", "bad_csv")
    assert "empty" in refused(codecs.BOM_UTF8, "bad_csv")


def test_one_column() -> None:
    text = "only\n" + "".join(f"{i}\n" for i in range(ROWS))
    assert "one column" in refused(text.encode(), "too_few_columns")


def test_too_few_rows() -> None:
    assert "3 rows" in refused(table(rows=3).encode(), "too_few_rows")


def test_header_only_is_too_few_rows() -> None:
    refused(b"a,b,c\n", "too_few_rows")


def test_scoring_files_may_be_small() -> None:
    df = read_csv(b"age\n41\n", min_rows=1, min_columns=1)
    assert df["age"].tolist() == [41]


def test_ragged_line_is_named() -> None:
    text = table() + "extra,1,2,3,4\n"
    detail = refused(text.encode(), "bad_csv")
    assert f"Line {ROWS + 2}" in detail


def test_duplicate_column_names_are_named() -> None:
    text = "price,size,price\n" + "1,2,3\n" * ROWS
    assert "'price'" in refused(text.encode(), "bad_csv")


def test_binary_garbage() -> None:
    noise = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert "CSV" in refused(noise, "bad_csv")


def test_excel_file_gets_a_useful_hint() -> None:
    assert "Excel" in refused(b"PK\x03\x04" + b"\x00" * 100, "bad_csv")


def test_big_file_reads_quickly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["x", "y"], n)})
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False, sep=";")
    df = read_csv(path)
    assert df.shape == (n, 2)
