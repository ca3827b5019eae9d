"""What kind of column is this, and what kind of prediction does a target call for?"""

from __future__ import annotations

import re

import pandas as pd

from services.common.data.features import to_datetime

NUMERIC, CATEGORICAL, DATETIME = "numeric", "categorical", "datetime"
TEXT, IDENTIFIER, CONSTANT = "text", "identifier", "constant"
USABLE_KINDS = (NUMERIC, CATEGORICAL, DATETIME)

_ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|guid)$|^(index|row|rownum|row_?number)$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}.*)?$")
_SAMPLE = 500
# A target of whole numbers with this few values, each seen more than once, is a code or a
# rating (1/2/3, 0 to 4, a 0-10 score) to pick among, not an amount to estimate.
FEW_CODES = 12
MANY_ROWS_CODES, MANY_ROWS_SHARE = 20, 0.05  # up to 20 values, over 20 rows per value


def infer_kind(series: pd.Series) -> str:
    """One of numeric, categorical, datetime, text, identifier, constant."""
    values = series.dropna()
    if values.nunique() <= 1:
        return CONSTANT
    if pd.api.types.is_bool_dtype(values):
        return CATEGORICAL
    if pd.api.types.is_datetime64_any_dtype(values):
        return DATETIME
    if pd.api.types.is_numeric_dtype(values):
        return _numeric_kind(series.name, values, len(series))
    if _all_numbers(values):
        return _numeric_kind(series.name, pd.to_numeric(values), len(series))
    return _string_kind(series.name, values.astype(str), len(series))


def infer_task(target: pd.Series) -> str:
    """ "classification" for yes/no, labels and a few distinct whole numbers; else "regression"."""
    values = target.dropna()
    if pd.api.types.is_bool_dtype(values) or values.nunique() <= 2:
        return "classification"
    if not pd.api.types.is_numeric_dtype(values):
        if not _all_numbers(values):
            return "classification"
        values = pd.to_numeric(values)
    return "classification" if few_codes(values) else "regression"


def few_codes(values: pd.Series) -> bool:
    """Whole numbers with few distinct values, each repeated: codes or ratings, not amounts."""
    if not bool((values % 1 == 0).all()):
        return False
    counts = values.value_counts()
    if len(counts) <= MANY_ROWS_CODES and len(counts) < MANY_ROWS_SHARE * len(values):
        return True
    return len(counts) <= FEW_CODES and int(counts.min()) >= 2


def id_like_name(name: object) -> bool:
    """Names such as id, customer_id, CustomerID, uuid, row_number."""
    text = str(name).strip()
    return bool(_ID_NAME.search(text) or _CAMEL_ID.search(text))


def _numeric_kind(name: object, values: pd.Series, rows: int) -> str:
    whole = bool((values % 1 == 0).all())
    unique_per_row = whole and values.nunique() == rows
    if unique_per_row and (id_like_name(name) or _counts_rows(values)):
        return IDENTIFIER
    if whole and id_like_name(name):
        return CATEGORICAL  # store_id repeated across rows: a code, not a quantity
    return NUMERIC


def _counts_rows(values: pd.Series) -> bool:
    """0, 1, 2, ... or 1, 2, 3, ... in file order: a row number, not a measurement.

    Other runs (one row per year: 2001, 2002, ...) may well be worth learning from.
    """
    if len(values) < 10 or values.iloc[0] not in (0, 1):
        return False
    return bool((values.diff().iloc[1:] == 1).all())


def _string_kind(name: object, values: pd.Series, rows: int) -> str:
    sample = values.sample(min(len(values), _SAMPLE), random_state=0)
    if _looks_like_dates(sample):
        return DATETIME
    unique_share = values.nunique() / len(values)
    long_text = sample.str.len().mean() > 30 or sample.str.count(" ").mean() >= 4
    if long_text and unique_share > 0.5:
        return TEXT
    if values.nunique() == rows and (id_like_name(name) or rows >= 10):
        return IDENTIFIER
    return CATEGORICAL


def _looks_like_dates(sample: pd.Series) -> bool:
    shaped = sample.str.strip().str.match(_DATE_LIKE)
    if shaped.mean() < 0.9:
        return False
    return to_datetime(sample[shaped]).notna().mean() >= 0.9


def _all_numbers(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values) or values.empty:
        return False
    head = values.iloc[:_SAMPLE]  # cheap rejection before converting a long column
    if not pd.to_numeric(head, errors="coerce").notna().all():
        return False
    return bool(pd.to_numeric(values, errors="coerce").notna().all())
