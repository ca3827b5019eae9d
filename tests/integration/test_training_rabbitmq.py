"""A full AutoML training job over real RabbitMQ and PostgreSQL: live progress, the leaderboard,
the honest grade, and a stop that keeps the best model found so far."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.test_api import upload
from tests.support import churn_csv, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
STOPPED_EARLY = "Stopped early"


@pytest.fixture
async def api(product_on_infra) -> AsyncIterator[httpx.AsyncClient]:
    async with product_on_infra() as client:
        yield client


async def follow(api: httpx.AsyncClient, job_id: str, seen: list[dict], until) -> dict:
    """Poll the job, recording every state seen, until until(job) is true."""

    async def probe() -> dict | None:
        job = (await api.get(f"/api/jobs/{job_id}")).json()
        seen.append(job)
        return job if until(job) else None

    return await eventually(probe, within=240, every=0.2)


async def test_a_training_job_searches_blends_and_reports_live(api: httpx.AsyncClient) -> None:
    dataset = (await upload(api, churn_csv(rows=800), "churn.csv")).json()
    response = await api.post("/api/jobs", json={"dataset_id": dataset["id"], "time_budget_s": 40})
    assert response.status_code == 202, response.text
    seen: list[dict] = []
    job = await follow(
        api, response.json()["id"], seen, lambda j: j["status"] in ("succeeded", "failed")
    )
    assert job["status"] == "succeeded", job

    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    stages = {j["stage"] for j in seen if j["status"] == "running"}
    assert any("kinds of model" in stage for stage in stages), stages
    assert any(j["eta_s"] is not None for j in seen if j["status"] == "running")

    model = (await api.get(f"/api/models/{job['model_id']}")).json()
    assert model["score"] > 0.7 and model["light"] in ("green", "yellow")
    kinds = {row["algorithm"] for row in model["leaderboard"]}
    assert {"Gradient boosting", "Linear model", "Random forest"} <= kinds
    metrics = model["metrics"]
    assert {"accuracy", "balanced_accuracy", "f1", "roc_auc", "confusion_matrix"} <= set(metrics)
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 160  # the 20% exam rows
    assert model["feature_importance"][0]["feature"] in ("tenure_months", "monthly_charges")


async def test_stopping_a_training_keeps_the_best_model_so_far(api: httpx.AsyncClient) -> None:
    dataset = (await upload(api, churn_csv(rows=30_000), "big.csv")).json()
    response = await api.post("/api/jobs", json={"dataset_id": dataset["id"], "time_budget_s": 300})
    job_id = response.json()["id"]
    seen: list[dict] = []
    await follow(api, job_id, seen, lambda j: "tried so far" in (j["stage"] or ""))
    stopped = await api.post(f"/api/jobs/{job_id}/cancel")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"

    job = await follow(api, job_id, seen, lambda j: j["model_id"] is not None)
    assert job["status"] == "cancelled" and job["stage"].startswith(STOPPED_EARLY)
    model = (await api.get(f"/api/models/{job['model_id']}")).json()
    assert any("stopped early" in note for note in model.get("notes", [])), model
    deployed = await api.post(f"/api/models/{model['id']}/deploy")
    assert deployed.status_code == 200
    row = {"tenure_months": 3, "monthly_charges": 90.0, "plan": "basic"}
    answer = await api.post("/api/predict", json={"rows": [row]})
    assert answer.status_code == 200 and answer.json()["predictions"][0] in ("yes", "no")
