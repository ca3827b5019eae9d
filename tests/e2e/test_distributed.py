"""The four services as separate OS processes over real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.flow import upload_and_train, wait_finished, whole_flow
from tests.e2e.processes import (
    ProxyThread,
    Service,
    distributed_env,
    start,
    start_all,
    wait_until,
)
from tests.support import churn_csv, delete_bus_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture
def env(tmp_path: Path, amqp_url: str, postgres_url: str) -> Iterator[dict[str, str]]:
    env = distributed_env(tmp_path, amqp_url, postgres_url)
    yield env
    asyncio.run(delete_bus_namespace(amqp_url, env["MLOPS_BUS_NAMESPACE"]))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in reversed(started):
        service.stop()


def test_four_processes_end_to_end(
    env: dict[str, str], services: list[Service], tmp_path: Path
) -> None:
    gateway = start_all(env, tmp_path / "logs", services)
    whole_flow(gateway.url)
    for service in services:
        assert "mlops_http_requests_total" in httpx.get(f"{service.url}/metrics").text


def test_trainer_killed_mid_job_finishes_once_with_one_model(
    env: dict[str, str], services: list[Service], tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    gateway = start("gateway", env, logs)
    services.append(gateway)
    first = start("trainer", env, logs)
    with httpx.Client(base_url=gateway.url, timeout=60) as api:
        job = upload_and_train(api, churn_csv(40_000), budget=60)

        def training() -> bool:
            now = api.get(f"/api/jobs/{job['id']}").json()
            return now["status"] == "running" and now["progress"] > 0.05

        wait_until(training, 60, every=0.1)
        first.kill()  # SIGKILL: no goodbye to the broker, the training child dies too
        assert api.get(f"/api/jobs/{job['id']}").json()["status"] == "running"

        services.append(start("trainer", env, logs))
        done = wait_finished(api, job["id"])
        assert done["status"] == "succeeded", done
        models = [m for m in api.get("/api/models").json()["items"] if m["job_id"] == job["id"]]
        assert [m["id"] for m in models] == [done["model_id"]]
    model_files = list((Path(env["MLOPS_DATA_DIR"]) / "models").glob("*.joblib"))
    assert [p.stem for p in model_files] == [done["model_id"]]


def test_a_broker_outage_delays_work_but_loses_none(
    env: dict[str, str], services: list[Service], tmp_path: Path, amqp_url: str
) -> None:
    proxy = ProxyThread(amqp_url)  # every service reaches RabbitMQ through a switch we control
    proxy.up()
    env = {**env, "MLOPS_BROKER_URL": proxy.url}
    try:
        gateway = start_all(env, tmp_path / "logs", services)
        with httpx.Client(base_url=gateway.url, timeout=60) as api:
            wait_until(lambda: api.get("/health").json()["status"] == "ok", 30)
            proxy.down()  # the broker goes away: connections cut, new ones refused
            wait_until(lambda: api.get("/health").json()["components"]["broker"] == "down", 30)
            job = upload_and_train(api, churn_csv())  # still accepted: recorded, sent later
            assert api.get(f"/api/jobs/{job['id']}").json()["status"] == "queued"

            proxy.up()  # the broker is back: the job is published, trained and recorded
            done = wait_finished(api, job["id"])
            assert done["status"] == "succeeded", done
            wait_until(lambda: api.get("/health").json()["status"] == "ok", 60)
            assert api.post(f"/api/models/{done['model_id']}/deploy").status_code == 200
            row = {"tenure_months": 2, "monthly_charges": 99.5, "plan": "basic"}
            answer = api.post("/api/predict", json={"rows": [row]})
            assert answer.status_code == 200, answer.text
    finally:
        for service in reversed(services):
            service.stop()
        services.clear()
        proxy.close()
