"""The HTTP API (shared/API.md) against the whole product in one process: in-process bus,
SQLite, real training in a child process. No external services needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import churn_csv, eventually, prices_csv, running_product

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_product(
        data_dir=tmp_path,
        broker_url="memory://",
        database_url="",
        max_upload_mb=1,
        heartbeat_interval_s=0.5,
        metrics_interval_s=0.5,
    ) as client:
        yield client


async def upload(
    api: httpx.AsyncClient, content: bytes, name: str = "data.csv", **form: str
) -> httpx.Response:
    return await api.post("/api/datasets", files={"file": (name, content, "text/csv")}, data=form)


async def train(api: httpx.AsyncClient, dataset_id: str, **body: object) -> dict:
    response = await api.post("/api/jobs", json={"dataset_id": dataset_id, **body})
    assert response.status_code == 202, response.text

    async def finished() -> dict | None:
        job = (await api.get(f"/api/jobs/{response.json()['id']}")).json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return await eventually(finished, within=120)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"].endswith((".", "!", "?"))


async def test_upload_train_deploy_predict(api: httpx.AsyncClient) -> None:
    created = await upload(api, churn_csv(), "churn.csv")
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert dataset["target"] == "churn" and dataset["task"] == "classification"
    assert dataset["rows"] == 300 and dataset["light"] in ("green", "yellow", "red")
    kinds = {c["name"]: c["kind"] for c in dataset["columns"]}
    assert kinds["customer_id"] == "identifier" and kinds["plan"] == "categorical"

    job = await train(api, dataset["id"], time_budget_s=30)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["model_id"]

    model = (await api.get(f"/api/models/{job['model_id']}")).json()
    assert model["task"] == "classification" and model["deployed"] is False
    assert 0.5 < model["score"] <= 1.0 and model["summary"]
    assert {f["feature"] for f in model["feature_importance"]} >= {"tenure_months"}

    assert_error(
        await api.post("/api/predict", json={"rows": [{"tenure_months": 3}]}),
        409,
        "no_model_deployed",
    )
    deployed = await api.post(f"/api/models/{model['id']}/deploy")
    assert deployed.status_code == 200 and deployed.json()["deployed"] is True

    row = {
        "churn": "ignored",
        "extra": 1,
        "plan": "basic",
        "monthly_charges": 99.0,
        "tenure_months": 2,
        "customer_id": "X1",
    }
    odd = {**row, "tenure_months": 500, "plan": "platinum"}
    answer = await api.post(
        "/api/predict",
        json={"rows": [row, {**row, "tenure_months": 70, "plan": "premium"}, odd]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_id"] == model["id"]
    assert body["predictions"][:2] == ["yes", "no"]
    assert all(abs(sum(p.values()) - 1) < 1e-6 for p in body["probabilities"])
    assert len(body["confidence"]) == 3 and set(body["confidence"]) <= {"high", "medium", "low"}
    assert [u["unusual"] for u in body["unusual"]] == [False, False, True]
    too_long, never = body["unusual"][2]["reasons"]
    assert too_long.startswith("'tenure_months' is 500, well above anything the model learned")
    assert never == "'plan' was never 'platinum' in the data the model learned from."

    assert_error(await api.post("/api/predict", json={"rows": [{}]}), 422, "missing_columns")
    bad_number = {**row, "tenure_months": {"nested": 1}}
    assert_error(await api.post("/api/predict", json={"rows": [bad_number]}), 422, "bad_value")
    missing = await api.post("/api/predict", json={"rows": [{"plan": "basic"}]})
    assert_error(missing, 422, "missing_columns")
    assert "tenure_months" in missing.json()["detail"]

    scored = await api.post(
        "/api/predict/csv", files={"file": ("new.csv", churn_csv(40, seed=5), "text/csv")}
    )
    assert scored.status_code == 200 and scored.headers["content-type"].startswith("text/csv")
    lines = scored.text.strip().splitlines()
    header = ["prediction", "confidence", "how_sure", "unusual"]
    assert len(lines) == 41 and lines[0].split(",")[-4:] == header

    one_row = b"tenure_months,monthly_charges,plan,customer_id\n200,99,basic,Z\n"
    tiny = await api.post("/api/predict/csv", files={"file": ("one.csv", one_row, "text/csv")})
    assert tiny.status_code == 200, tiny.text
    assert "'tenure_months' is 200, well above" in tiny.text.splitlines()[1]

    download = await api.get(f"/api/models/{model['id']}/download")
    assert download.status_code == 200 and len(download.content) > 1000
    activity = (await api.get("/api/activity")).json()["items"]
    assert any("switched on" in a["message"] for a in activity)


async def test_regression_flow(api: httpx.AsyncClient) -> None:
    dataset = (await upload(api, prices_csv(), "prices.csv")).json()
    assert dataset["task"] == "regression"
    job = await train(api, dataset["id"], time_budget_s=20)
    model = (await api.get(f"/api/models/{job['model_id']}")).json()
    assert model["score_name"] == "r2" and model["score"] > 0.5
    await api.post(f"/api/models/{model['id']}/deploy")
    answer = (await api.post("/api/predict", json={"rows": [{"size_m2": 100, "rooms": 3}]})).json()
    assert answer["probabilities"] is None and 150_000 < answer["predictions"][0] < 500_000
    assert answer["confidence"] is None and answer["unusual"] == [{"unusual": False, "reasons": []}]


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("data.xlsx", b"PK\x03\x04 spreadsheet", 415, "not_csv"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", 415, "not_csv"),
        ("empty.csv", b"", 400, "bad_csv"),
        ("one.csv", b"a\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", 400, "too_few_columns"),
        ("short.csv", b"a,b\n1,2\n3,4\n", 400, "too_few_rows"),
    ],
)
async def test_bad_uploads_are_refused_and_leave_nothing(
    api: httpx.AsyncClient, tmp_path: Path, name: str, content: bytes, status: int, code: str
) -> None:
    assert_error(await upload(api, content, name), status, code)
    assert (await api.get("/api/datasets")).json()["items"] == []
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []


async def test_too_large_upload_is_refused(api: httpx.AsyncClient, tmp_path: Path) -> None:
    big = b"a,b\n" + b"1,2\n" * 300_000  # 1.2 MB against a 1 MB limit
    assert_error(await upload(api, big), 413, "too_large")
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []


async def test_upload_without_a_file_is_explained(api: httpx.AsyncClient) -> None:
    assert_error(await api.post("/api/datasets", data={"target": "x"}), 400, "not_multipart")
    no_file = await api.post("/api/datasets", files={"other": (None, "x")})
    assert_error(no_file, 400, "no_file")
    assert_error(await api.post("/api/datasets", content=b"a,b\n1,2\n"), 400, "not_multipart")


async def test_unknown_target_and_missing_things(api: httpx.AsyncClient) -> None:
    assert_error(await upload(api, churn_csv(), target="nope"), 400, "target_missing")
    assert_error(await api.get("/api/datasets/none"), 404, "dataset_not_found")
    assert_error(await api.post("/api/jobs", json={"dataset_id": "none"}), 404, "dataset_not_found")
    assert_error(await api.get("/api/models/none"), 404, "model_not_found")
    assert_error(await api.post("/api/models/none/deploy"), 404, "model_not_found")
    assert_error(await api.get("/api/jobs/none"), 404, "job_not_found")
    assert_error(await api.post("/api/jobs", json={"dataset": 1}), 422, "invalid_request")
    not_json = await api.post(
        "/api/jobs", content=b"{", headers={"content-type": "application/json"}
    )
    assert_error(not_json, 422, "invalid_request")
    assert "not valid JSON" in not_json.json()["detail"]
    assert_error(await api.get("/nowhere"), 404, "not_found")


async def test_dataset_list_preview_delete(api: httpx.AsyncClient) -> None:
    dataset = (await upload(api, churn_csv(), "churn.csv")).json()
    assert [d["id"] for d in (await api.get("/api/datasets")).json()["items"]] == [dataset["id"]]
    preview = (await api.get(f"/api/datasets/{dataset['id']}/preview?rows=5")).json()
    assert preview["columns"][0] == "customer_id" and len(preview["rows"]) == 5
    assert (await api.delete(f"/api/datasets/{dataset['id']}")).status_code == 204
    assert_error(await api.get(f"/api/datasets/{dataset['id']}"), 404, "dataset_not_found")


async def test_cancel_a_job(api: httpx.AsyncClient, tmp_path: Path) -> None:
    dataset = (await upload(api, churn_csv(), "churn.csv")).json()
    job = (
        await api.post("/api/jobs", json={"dataset_id": dataset["id"], "time_budget_s": 60})
    ).json()
    # A file that training still needs is not deleted from under it.
    assert_error(await api.delete(f"/api/datasets/{dataset['id']}"), 409, "busy")
    assert (await api.get(f"/api/datasets/{dataset['id']}")).status_code == 200
    assert list((tmp_path / "datasets").glob("*.csv"))
    cancelled = await api.post(f"/api/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    async def settled() -> bool:
        return (await api.get(f"/api/jobs/{job['id']}")).json()["status"] == "cancelled"

    assert await eventually(settled, within=30)
    assert (await api.get("/api/models")).json()["items"] == []
    assert (await api.delete(f"/api/datasets/{dataset['id']}")).status_code == 204
    assert not list((tmp_path / "datasets").glob("*.csv"))


async def test_settings_and_health(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/settings")).json()["time_budget_s"] == 60
    saved = await api.put(
        "/api/settings",
        json={
            "time_budget_s": 30,
            "algorithm": "auto",
            "notify_on_complete": False,
            "cleanup_after_days": 7,
        },
    )
    assert (
        saved.status_code == 200 and (await api.get("/api/settings")).json()["time_budget_s"] == 30
    )
    assert_error(await api.put("/api/settings", json={"time_budget_s": 1}), 422, "invalid_request")

    async def healthy() -> dict | None:
        body = (await api.get("/health")).json()
        return body if body["status"] == "ok" else None

    health = await eventually(healthy, within=20)
    assert set(health["components"]) == {
        "database",
        "broker",
        "storage",
        "trainer",
        "predictor",
        "metrics",
    }
    metrics = await api.get("/metrics")
    assert "mlops_http_requests_total" in metrics.text
    assert 'mlops_bus_events_handled_total{outcome="ok",type="service.heartbeat"}' in metrics.text


async def test_openapi_documents_the_contract(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/datasets",
        "/api/datasets/{dataset_id}",
        "/api/jobs",
        "/api/jobs/{job_id}/cancel",
        "/api/models/{model_id}/deploy",
        "/api/predict",
        "/api/predict/csv",
        "/health",
    ):
        assert path in paths
