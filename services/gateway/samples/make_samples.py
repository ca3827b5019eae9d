"""Write the sample CSVs a first-time user can try in one click (run by hand; the files are
committed). The data is invented, with patterns a model can find and the gaps and mixed types real
spreadsheets have: `python -m services.gateway.samples.make_samples`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def churn(rng: np.random.Generator, n: int = 1200) -> pd.DataFrame:
    contract = rng.choice(["month-to-month", "one year", "two years"], n, p=[0.55, 0.25, 0.2])
    tenure = rng.integers(1, 72, n)
    charges = np.round(rng.uniform(20, 120, n), 2)
    calls = rng.poisson(1.5, n)
    payment = rng.choice(["card", "bank transfer", "cheque"], n, p=[0.5, 0.35, 0.15])
    internet = rng.choice(["fibre", "dsl", "no internet"], n, p=[0.45, 0.4, 0.15])
    age = rng.integers(18, 85, n)
    risk = (
        -1.0
        + 2.6 * (contract == "month-to-month")
        - 2.0 * (contract == "two years")
        - 0.07 * tenure
        + 0.035 * (charges - 70)
        + 0.8 * calls
        + 0.9 * (payment == "cheque")
        + 0.6 * (internet == "fibre")
    )
    churned = rng.random(n) < 1 / (1 + np.exp(-risk))
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{10000 + i}" for i in range(n)],
            "age": pd.array(age, dtype="Int64"),
            "months_as_customer": tenure,
            "contract": contract,
            "monthly_bill": charges,
            "support_calls_last_year": calls,
            "payment_method": payment,
            "internet": internet,
            "left_us": np.where(churned, "yes", "no"),
        }
    )
    frame.loc[rng.random(n) < 0.04, "age"] = pd.NA  # some forms were never filled in
    frame.loc[rng.random(n) < 0.02, "payment_method"] = np.nan
    return frame


def houses(rng: np.random.Generator, n: int = 900) -> pd.DataFrame:
    area = np.round(rng.gamma(9, 11, n) + 25)
    bedrooms = np.clip(np.round(area / 32 + rng.normal(0, 0.7, n)), 1, 7).astype(int)
    neighbourhood = rng.choice(["Old Town", "Riverside", "Hillview", "Station"], n)
    built = rng.integers(1930, 2024, n)
    garden = rng.choice(["yes", "no"], n, p=[0.4, 0.6])
    distance = np.round(rng.gamma(2.5, 2.2, n), 1)
    premium = pd.Series(neighbourhood).map(
        {"Old Town": 1.25, "Riverside": 1.15, "Hillview": 1.0, "Station": 0.9}
    )
    price = (
        (area * 2900 + bedrooms * 8000 + (built - 1930) * 450 + (garden == "yes") * 15000)
        * premium.to_numpy()
        * np.exp(-0.025 * distance)
        * rng.lognormal(0, 0.08, n)
    )
    frame = pd.DataFrame(
        {
            "floor_area_m2": area.astype(int),
            "bedrooms": bedrooms,
            "neighbourhood": neighbourhood,
            "year_built": pd.array(built, dtype="Int64"),
            "garden": garden,
            "km_to_city_centre": distance,
            "sale_price": np.round(price, -3).astype(int),
        }
    )
    frame.loc[rng.random(n) < 0.05, "year_built"] = pd.NA
    return frame


def deliveries(rng: np.random.Generator, n: int = 1000) -> pd.DataFrame:
    distance = np.round(rng.gamma(3, 40, n), 0)
    weight = np.round(rng.gamma(2, 3, n), 1)
    weekday = rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], n)
    weather = rng.choice(["clear", "rain", "snow"], n, p=[0.65, 0.28, 0.07])
    carrier = rng.choice(["FastPost", "CityCourier", "BudgetShip"], n)
    minutes = (
        30
        + 0.9 * distance
        + 2.0 * weight
        + np.select([weather == "rain", weather == "snow"], [15, 60], 0)
        + np.select([carrier == "BudgetShip", carrier == "FastPost"], [35, -10], 0)
        + 20 * (weekday == "Sat")
    )
    late = minutes * rng.lognormal(0, 0.2, n) > 200
    return pd.DataFrame(
        {
            "distance_km": distance,
            "parcel_kg": weight,
            "weekday": weekday,
            "weather": weather,
            "carrier": carrier,
            "arrived_late": np.where(late, "late", "on time"),
        }
    )


def main() -> None:
    rng = np.random.default_rng(2026)
    churn(rng).to_csv(HERE / "customer_churn.csv", index=False)
    houses(rng).to_csv(HERE / "house_prices.csv", index=False)
    deliveries(rng).to_csv(HERE / "late_deliveries.csv", index=False)


if __name__ == "__main__":
    main()
