"""The user's whole journey over HTTP and WebSocket: upload, train, deploy, predict."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.e2e.processes import wait_until
from tests.support import churn_csv


def upload_and_train(api: httpx.Client, content: bytes, budget: int = 30) -> dict:
    dataset = api.post("/api/datasets", files={"file": ("churn.csv", content, "text/csv")})
    assert dataset.status_code == 201, dataset.text
    job = api.post("/api/jobs", json={"dataset_id": dataset.json()["id"], "time_budget_s": budget})
    assert job.status_code == 202, job.text
    return job.json()


def wait_finished(api: httpx.Client, job_id: str, timeout: float = 180) -> dict:
    def finished() -> dict | None:
        job = api.get(f"/api/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(finished, timeout)


def whole_flow(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as api:
        job = wait_finished(api, upload_and_train(api, churn_csv())["id"])
        assert job["status"] == "succeeded", job
        model = api.get(f"/api/models/{job['model_id']}").json()
        assert model["score"] > 0.5 and model["light"] in ("green", "yellow", "red")
        assert api.post(f"/api/models/{model['id']}/deploy").json()["deployed"] is True
        row = {"tenure_months": 2, "monthly_charges": 99.5, "plan": "basic", "customer_id": "N1"}
        answer = api.post("/api/predict", json={"rows": [row]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == ["yes"] and answer.json()["model_id"] == model["id"]

        def healthy() -> dict | None:
            body = api.get("/health").json()
            return body if body["status"] == "ok" else None

        wait_until(healthy, 30)
    asyncio.run(_live_updates(base_url))


async def _live_updates(base_url: str) -> None:
    """The page's socket gets health at once and machine metrics within a few seconds; a ping
    from the page (to measure the round trip) gets its pong, and junk does not drop it."""
    seen: set[str] = set()
    async with websockets.connect(base_url.replace("http", "ws", 1) + "/ws") as socket:
        await socket.send("not json")
        await socket.send(json.dumps({"type": "ping", "id": 7}))
        async with asyncio.timeout(30):
            while not {"health", "metrics", "pong"} <= seen:
                message = json.loads(await socket.recv())
                assert set(message) == {"type", "data", "ts"}
                seen.add(message["type"])
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                if message["type"] == "pong":
                    assert message["data"] == {"id": 7}
