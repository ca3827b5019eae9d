"""Pure data logic shared by the services: reading CSVs, profiling them, the transformers a model
file pickles, and the model bundle itself. No I/O beyond reading a given path or bytes."""

from services.common.data.bundle import ModelBundle
from services.common.data.profiling import (
    ColumnProfile,
    DatasetProfile,
    infer_kind,
    infer_task,
    profile_dataset,
)
from services.common.data.reading import read_csv

__all__ = [
    "ColumnProfile",
    "DatasetProfile",
    "ModelBundle",
    "infer_kind",
    "infer_task",
    "profile_dataset",
    "read_csv",
]
