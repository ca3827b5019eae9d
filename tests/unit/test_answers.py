"""What comes with each prediction: how sure, and whether the row is unusual (with a reason),
from a tiny real model built here (no trainer), through the bundle, the CSV scorer and the
predictor's HTTP answer."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from services.common.bus.memory import MemoryBus
from services.common.data.answers import confidence, unusual_reasons
from services.common.data.bundle import ModelBundle, prepare_frame
from services.common.data.describe import describe_features
from services.common.data.features import DateTimeParts, ToString
from services.common.settings import Settings
from services.common.storage import FileStore, model_path
from services.predictor.answers import score_csv
from services.predictor.bootstrap import bootstrap

KINDS = {"age": "numeric", "plan": "categorical", "signup": "datetime"}
N = 120


def customers(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 91, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "signup": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )


def bundle_for(df: pd.DataFrame, y: np.ndarray, task: str) -> ModelBundle:
    features = describe_features(df, KINDS)
    steps = ColumnTransformer(
        [
            ("numeric", SimpleImputer(), ["age"]),
            (
                "categorical",
                make_pipeline(ToString(), OneHotEncoder(handle_unknown="ignore")),
                ["plan"],
            ),
            ("datetime", make_pipeline(DateTimeParts(), SimpleImputer()), ["signup"]),
        ]
    )
    model = LogisticRegression() if task == "classification" else LinearRegression()
    pipeline = make_pipeline(steps, model).fit(prepare_frame(df, features, strict=False), y)
    classes = pipeline.classes_.tolist() if task == "classification" else None
    return ModelBundle(pipeline, task, "churn", features, classes)


@pytest.fixture(scope="module")
def churn_model() -> ModelBundle:
    df = customers()
    return bundle_for(df, np.where(df["age"] > 50, "yes", "no"), "classification")


ROW = {"age": 40, "plan": "plus", "signup": "2021-02-01"}


@pytest.mark.parametrize(
    ("top", "labels", "expected"),
    [
        (0.99, 2, "high"),
        (0.8, 2, "high"),
        (0.79, 2, "medium"),
        (0.6, 2, "medium"),
        (0.59, 2, "low"),
        (0.5, 2, "low"),
        (0.74, 3, "high"),
        (0.5, 3, "medium"),
        (0.45, 3, "low"),
        (0.65, 10, "high"),
        (0.3, 10, "medium"),
        (0.2, 10, "low"),
    ],
)
def test_how_sure_depends_on_the_top_probability_and_the_number_of_labels(
    top: float, labels: int, expected: str
) -> None:
    rest = (1 - top) / (labels - 1)
    proba = np.array([[top] + [rest] * (labels - 1)])
    assert confidence(proba) == [expected]
    assert confidence(proba[:, ::-1]) == [expected]  # wherever the top label sits


def test_an_ordinary_row_is_not_unusual(churn_model: ModelBundle) -> None:
    answers = churn_model.answer([ROW, {**ROW, "age": 20.5, "plan": None, "signup": ""}])
    assert answers.unusual == [[], []]
    assert answers.unusual_flags() == [
        {"unusual": False, "reasons": []},
        {"unusual": False, "reasons": []},
    ]
    assert len(answers.confidence) == 2 and set(answers.confidence) <= {"high", "medium", "low"}
    assert answers.predictions == churn_model.predict_frame(pd.DataFrame([ROW, ROW]))[0]


def test_a_number_far_outside_the_training_range_is_unusual(churn_model: ModelBundle) -> None:
    low, high, inside = churn_model.answer(
        [{**ROW, "age": 1}, {**ROW, "age": 240}, {**ROW, "age": 95}]
    ).unusual
    assert low == ["'age' is 1, well below anything the model learned from (18 to 90)."]
    assert high == ["'age' is 240, well above anything the model learned from (18 to 90)."]
    assert inside == []  # within a tenth of the range past the edge


def test_a_category_never_seen_is_unusual(churn_model: ModelBundle) -> None:
    answers = churn_model.answer([{**ROW, "plan": "platinum"}, {**ROW, "plan": "Basic"}])
    assert answers.unusual[0] == ["'plan' was never 'platinum' in the data the model learned from."]
    assert answers.unusual[1] == ["'plan' was never 'Basic' in the data the model learned from."]
    assert answers.unusual_flags()[0]["unusual"] is True


def test_a_date_outside_the_seen_range_is_unusual(churn_model: ModelBundle) -> None:
    later, earlier, edge = churn_model.answer(
        [
            {**ROW, "signup": "2030-01-01"},
            {**ROW, "signup": "01.06.2019"},
            {**ROW, "signup": "2021-05-05"},
        ]
    ).unusual
    seen = "(2021-01-01 to 2021-04-30)"
    assert later == [f"'signup' is 2030-01-01, later than anything the model learned from {seen}."]
    assert earlier == [
        f"'signup' is 2019-06-01, earlier than anything the model learned from {seen}."
    ]
    assert edge == []


def test_every_reason_is_given(churn_model: ModelBundle) -> None:
    (reasons,) = churn_model.answer([{"age": 500, "plan": "gold", "signup": "2040-01-01"}]).unusual
    assert [r.split("'")[1] for r in reasons] == ["age", "plan", "signup"]


def test_the_training_facts_are_kept_in_the_descriptions(churn_model: ModelBundle) -> None:
    by_name = {f["name"]: f for f in churn_model.features}
    assert (by_name["age"]["min"], by_name["age"]["max"]) == (18, 90)
    assert by_name["plan"]["seen"] == ["basic", "plus", "pro"]
    assert len(by_name["plan"]["choices"]) == 3  # the form's key is unchanged
    assert (by_name["signup"]["earliest"], by_name["signup"]["latest"]) == (
        "2021-01-01",
        "2021-04-30",
    )


def test_too_many_categories_to_keep_are_not_checked() -> None:
    df = pd.DataFrame({"town": [f"town {i}" for i in range(1500)] * 2})
    (town,) = describe_features(df, {"town": "categorical"})
    assert "seen" not in town and len(town["choices"]) == 50
    assert unusual_reasons(pd.DataFrame({"town": ["nowhere"]}), [town]) == [[]]


def test_an_older_model_without_the_new_keys_still_answers(churn_model: ModelBundle) -> None:
    old = copy.deepcopy(churn_model)
    for feature in old.features:
        for key in ("seen", "earliest", "latest", "min", "max"):
            feature.pop(key, None)
    answers = old.answer([{"age": 500, "plan": "gold", "signup": "2040-01-01"}])
    assert answers.unusual == [[]]
    assert answers.predictions and answers.confidence


def test_regression_has_no_confidence_but_still_flags() -> None:
    df = customers(seed=1)
    model = bundle_for(df, df["age"].to_numpy() * 2.0, "regression")
    answers = model.answer([ROW, {**ROW, "age": 300}])
    assert answers.probabilities is None and answers.confidence is None
    assert answers.unusual[0] == [] and "'age' is 300" in answers.unusual[1][0]
    assert model.predict([ROW]) == (answers.predictions[:1], None)


def test_scored_csv_has_how_sure_and_unusual_columns(churn_model: ModelBundle) -> None:
    rows = pd.DataFrame([ROW, {**ROW, "plan": "platinum", "age": 240}] * 3)
    scored = pd.read_csv(io.BytesIO(score_csv(churn_model, rows.to_csv(index=False).encode())))
    assert list(scored.columns) == [
        "age",
        "plan",
        "signup",
        "prediction",
        "confidence",
        "how_sure",
        "unusual",
    ]
    assert scored["confidence"].between(0.5, 1).all()
    assert set(scored["how_sure"]) <= {"high", "medium", "low"}
    assert scored["unusual"].isna().tolist() == [True, False] * 3  # an empty note for a usual row
    assert scored["unusual"].iloc[1] == (
        "'age' is 240, well above anything the model learned from (18 to 90). "
        "'plan' was never 'platinum' in the data the model learned from."
    )


async def test_the_predictor_answers_with_how_sure_and_unusual(
    churn_model: ModelBundle, tmp_path: Path
) -> None:
    store = FileStore(tmp_path, b"x" * 32)
    store.save_model(model_path("m1"), churn_model)
    service = bootstrap(Settings(data_dir=tmp_path), MemoryBus(), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://predictor"
    ) as client:
        body = {"rows": [ROW, {**ROW, "plan": "platinum"}], "model_id": "m1"}
        answer = (await client.post("/predict", json=body)).json()
    assert set(answer) == {"model_id", "predictions", "probabilities", "confidence", "unusual"}
    assert answer["model_id"] == "m1" and len(answer["confidence"]) == 2
    assert answer["unusual"] == [
        {"unusual": False, "reasons": []},
        {
            "unusual": True,
            "reasons": ["'plan' was never 'platinum' in the data the model learned from."],
        },
    ]
