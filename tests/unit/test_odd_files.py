"""Odd but honest files read as a person would: an Excel "sep=" line, a units row, no header
row, empty header cells, hidden characters in names; each change told in a plain note."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pytest

from services.common.data import profile_dataset, read_csv
from services.common.data.names import display_name
from services.common.errors import BadInput
from tests.support import gateway_alone

ROWS = 12


def numbers(sep: str = ",", rows: int = ROWS) -> str:
    return "".join(sep.join([f"{i}.5", str(100 + i), str(3 * i)]) + "\n" for i in range(rows))


@pytest.mark.parametrize("sep", [";", ",", "\t", "|", "\\t"])
def test_an_excel_sep_line_names_the_separator_and_is_skipped(sep: str) -> None:
    real = "\t" if sep == "\\t" else sep
    text = f"sep={sep}\n" + real.join(["name", "age"]) + "\n"
    text += "".join(f"p{i}{real}{20 + i}\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == ["name", "age"]
    assert df["age"].tolist()[:2] == [20, 21] and len(df) == ROWS
    assert df.attrs["notes"] == []


def test_a_sep_line_with_a_bom_windows_endings_and_decimal_commas() -> None:
    text = "sep=;\r\nprice;city\r\n" + "".join(f"{i},5;Lyon\r\n" for i in range(ROWS))
    df = read_csv(codecs.BOM_UTF8 + text.encode())
    assert list(df.columns) == ["price", "city"] and df["price"].iloc[1] == 1.5


def test_a_sep_line_above_a_header_longer_than_the_sniffed_head() -> None:
    names = [f"{i:03d}" + "n" * 147 for i in range(500)]
    text = "sep=;\n" + ";".join(names) + "\n"
    text += "".join(";".join(str(r) for _ in names) + "\n" for r in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == names and len(df) == ROWS


def test_a_units_row_is_set_aside_and_the_numbers_stay_numbers() -> None:
    df = read_csv(("weight,height,price\nkg,cm,EUR\n" + numbers()).encode())
    assert list(df.columns) == ["weight", "height", "price"] and len(df) == ROWS
    assert all(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns)
    assert df["weight"].iloc[1] == 1.5 and df["height"].iloc[0] == 100
    assert df.attrs["notes"] == [
        "The line under the column names gives units ('weight' in kg, 'height' in cm and "
        "'price' in EUR) rather than data, so we set it aside and read the numbers below it as "
        "numbers."
    ]


def test_a_units_row_in_a_european_file_with_a_text_column() -> None:
    text = "poids;taille;nom\nkg;cm;\n" + "".join(f"{i},5;1.{i}00,25;p{i}\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert df["poids"].iloc[2] == 2.5 and df["taille"].iloc[3] == pytest.approx(1300.25)
    assert df["nom"].iloc[0] == "p0"
    assert "'poids' in kg and 'taille' in cm" in df.attrs["notes"][0]


@pytest.mark.parametrize(
    "first",
    [
        "Paris,unknown,x",  # one odd value in a row of data is not a row of units
        "Paris,Lyon,Nice",  # text above text: data
        "kg,12,EUR",  # a number in it: data
    ],
)
def test_a_first_row_of_words_is_kept_when_it_is_not_units(first: str) -> None:
    text = "city,size,label\n" + first + "\n"
    text += "".join(f"{c},{i},{c}\n" for i, c in enumerate(["Lyon", "Nice"] * 6))
    df = read_csv(text.encode())
    assert len(df) == ROWS + 1 and df.attrs["notes"] == []


def test_a_file_without_a_header_row_is_named_column_1_to_n() -> None:
    text = "".join(f"5.{i % 9},3.{i % 7},{'setosa' if i % 2 else 'virginica'}\n" for i in range(20))
    df = read_csv(text.encode())
    assert list(df.columns) == ["column 1", "column 2", "column 3"]
    assert len(df) == 20 and df["column 1"].iloc[0] == 5.0
    assert pd.api.types.is_numeric_dtype(df["column 2"])
    assert df.attrs["notes"] == [
        "The first line of the file holds data, not column names, so we kept it as a row and "
        "named the columns 'column 1' to 'column 3'."
    ]


def test_a_file_of_numbers_only_without_a_header() -> None:
    df = read_csv(numbers(";").encode())
    assert list(df.columns) == ["column 1", "column 2", "column 3"] and len(df) == ROWS


@pytest.mark.parametrize(
    "header",
    [
        "region,2022,2023",  # a year among words
        "2021,2022,2023",  # years that count up are names
        "0,1,2",  # so are the positions pandas writes for unnamed columns
        "size,height,weight",
    ],
)
def test_a_header_with_numbers_in_it_is_still_a_header(header: str) -> None:
    if header.startswith("region"):
        rows = [f"{'north' if i % 2 else 'south'},{i},{i + 1}" for i in range(ROWS)]
    else:
        rows = [f"{i},{i * 2},{i + 1}" for i in range(ROWS)]
    text = "\n".join([header, *rows]) + "\n"
    df = read_csv(text.encode())
    assert list(df.columns) == header.split(",") and len(df) == ROWS
    assert df.attrs["notes"] == []


def test_empty_header_cells_get_names_and_a_note() -> None:
    text = "a,,c,\n" + "".join(f"{i},{i * 2},x{i % 3},{i % 4}\n" for i in range(ROWS))
    df = read_csv(text.encode())
    assert list(df.columns) == ["a", "column 2", "c", "column 4"]
    assert df.attrs["notes"] == [
        "2 columns have no name in the file, so we called them 'column 2' and 'column 4'."
    ]


def test_one_empty_header_cell() -> None:
    df = read_csv(("a, ,c\n" + numbers()).encode())
    assert list(df.columns) == ["a", "column 2", "c"]
    assert df.attrs["notes"] == ["One column has no name in the file, so we called it 'column 2'."]


def test_an_unnamed_empty_column_and_an_index_column_still_go_without_a_note() -> None:
    frame = pd.DataFrame({"x": range(ROWS), "y": list("ab" * (ROWS // 2))})
    df = read_csv(frame.to_csv().replace("\n", ",\n").encode())
    assert list(df.columns) == ["x", "y"] and df.attrs["notes"] == []


def test_control_and_bidi_characters_leave_column_names() -> None:
    text = "na\u202eme,\x01age\u2066\n" + "".join(f"p{i},{i}\n" for i in range(200))
    assert list(read_csv(text.encode()).columns) == ["name", "age"]


def test_names_that_differ_only_by_hidden_characters_are_duplicates() -> None:
    text = "price,pri\u200fce\n" + "".join(f"{i},{i}\n" for i in range(ROWS))
    with pytest.raises(BadInput) as caught:
        read_csv(text.encode())
    assert "'price'" in caught.value.detail


def test_an_ordinary_file_has_no_notes() -> None:
    assert read_csv(("a,b,c\n" + numbers()).encode()).attrs["notes"] == []


def test_notes_reach_the_profile() -> None:
    df = read_csv(("weight,height,price\nkg,cm,EUR\n" + numbers(rows=40)).encode())
    messages = profile_dataset(df, "price").messages
    assert any(m.startswith("The line under the column names gives units") for m in messages)


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("sales.csv", "sales.csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\Desktop\\sales 2024.csv", "sales 2024.csv"),
        ("invoice\u202egpj.csv", "invoicegpj.csv"),
        ("a\u2066b\u2069\u200e\u200f.csv", "ab.csv"),
        ("nul\x00byte\x07.csv", "nulbyte.csv"),
        ("  lots \t of\n  space .csv ", "lots of space .csv"),
        ("", "data.csv"),
        ("folder/", "data.csv"),
        ("..", "data.csv"),
        ("\u202e\x00", "data.csv"),
        ("Ünïcode 数据.csv", "Ünïcode 数据.csv"),
    ],
)
def test_display_names(sent: str, shown: str) -> None:
    assert display_name(sent) == shown


def test_a_long_display_name_is_cut_keeping_its_ending() -> None:
    name = display_name("x" * 500 + ".csv")
    assert len(name) == 120 and name.endswith("….csv")


async def test_an_upload_shows_a_clean_name_and_the_reading_notes(tmp_path: Path) -> None:
    content = ("weight,,price\nkg,,EUR\n" + numbers(rows=40)).encode()
    files = {"file": ("C:\\exports\\sales\u202evsc.csv", content, "text/csv")}
    async with gateway_alone(tmp_path) as (api, _):
        answer = await api.post("/api/datasets", files=files)
    assert answer.status_code == 201, answer.text
    dataset = answer.json()
    assert dataset["name"] == "salesvsc.csv"
    assert [c["name"] for c in dataset["columns"]] == ["weight", "column 2", "price"]
    assert "One column has no name in the file, so we called it 'column 2'." in dataset["messages"]
    assert any("gives units ('weight' in kg and 'price' in EUR)" in m for m in dataset["messages"])


@pytest.mark.parametrize(
    ("disposition", "shown"),
    [
        # Only the RFC 5987 extended name (some clients send nothing else).
        (
            "form-data; name=\"file\"; filename*=UTF-8''donn%C3%A9es_%E6%97%A5%E6%9C%AC.csv",
            "données_日本.csv",
        ),
        # What browsers escape in a file name: quotes.
        ('form-data; name="file"; filename="say %22hi%22.csv"', 'say "hi".csv'),
    ],
)
async def test_any_file_name_is_received(tmp_path: Path, disposition: str, shown: str) -> None:
    content = ("a,b\n" + "\n".join(f"{i},{i % 2}" for i in range(30)) + "\n").encode()
    body = (
        f"--B\r\nContent-Disposition: {disposition}\r\nContent-Type: text/csv\r\n\r\n".encode()
        + content
        + b"\r\n--B--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    async with gateway_alone(tmp_path) as (api, _):
        answer = await api.post("/api/datasets", content=body, headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == shown
