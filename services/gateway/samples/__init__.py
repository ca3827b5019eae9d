"""Sample CSVs shipped with the product, so a first-time user can try it in one click.
The data is invented (make_samples.py writes it); each file's last column is the one to predict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.errors import NotFound

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    about: str

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def path(self) -> Path:
        return HERE / self.filename


SAMPLES = (
    Sample(
        "customer_churn",
        "Which customers will leave?",
        "1,200 customers of a phone and internet company, and whether each one left.",
    ),
    Sample(
        "house_prices",
        "What will a house sell for?",
        "900 house sales: size, area, age and garden, and the price each one sold for.",
    ),
    Sample(
        "late_deliveries",
        "Which parcels will arrive late?",
        "1,000 parcel deliveries: distance, weight, weather and carrier, and whether each "
        "was late.",
    ),
)


def find(name: str) -> Sample:
    for sample in SAMPLES:
        if sample.name == name:
            return sample
    raise NotFound(f"There is no sample called '{name}'.", code="sample_not_found")
