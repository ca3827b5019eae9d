"""Services killed outright (SIGKILL) at chosen moments: a trainer mid-fit and right after its
model file, a predictor under load, the gateway mid-upload."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.storage import DATASETS, model_path
from tests.e2e.processes import Service, wait_until
from tests.faults.cluster import ROW, freeze, wait_for_file
from tests.faults.load import PredictionLoad
from tests.faults.scene import Scene
from tests.support import churn_csv


@pytest.mark.fault(
    "a trainer killed mid-fit",
    "the other trainer finishes the job: it ends succeeded with exactly one model",
)
def test_trainer_killed_mid_fit(scene: Scene) -> None:
    """Asked for an 8 s training on a larger table with two trainers running, SIGKILLed the
    trainer on it (and its training child) once it had reported progress."""
    cluster = scene.cluster
    with cluster.api() as api:
        job_id, model_id = cluster.train(api, budget=8, rows=10_000)
        trainer = cluster.wait_running(api, job_id)
        wait_until(lambda: api.get(f"/api/jobs/{job_id}").json()["progress"] > 0.05, 60, 0.1)
    trainer.kill()
    job = cluster.check.wait_final([job_id], 120)[job_id]
    scene.saw(f"job {job.status} after {job.attempts} attempts")
    scene.check([job_id])
    assert job.status == "succeeded", job.error
    assert (cluster.data_dir / model_path(model_id)).is_file()


@pytest.mark.fault(
    "a trainer killed after writing the model file, before its outcome is recorded",
    "the job ends succeeded with exactly that one model",
)
def test_trainer_killed_after_the_model_file(scene: Scene) -> None:
    """Asked for a 5 s training; froze the trainer's main process (SIGSTOP) while its training
    child went on, and SIGKILLed it the moment the model file was on disk: the outcome was
    never published, nor the job acknowledged."""
    cluster = scene.cluster
    with cluster.api() as api:
        job_id, model_id = cluster.train(api, budget=5)
        trainer = cluster.wait_running(api, job_id)
    freeze(trainer)
    try:
        wait_for_file(cluster.data_dir / model_path(model_id), 60)
    finally:
        trainer.kill()
    job = cluster.check.wait_final([job_id], 120)[job_id]
    scene.saw(f"job {job.status} after {job.attempts} attempts")
    scene.check([job_id])
    assert job.status == "succeeded", job.error
    assert job.model_id == model_id


@pytest.mark.fault(
    "a predictor killed under load, with two predictor replicas",
    "no prediction fails while the other replica lives",
)
def test_predictor_killed_under_load(scene: Scene) -> None:
    """Deployed a model, sent predictions through the gateway from three clients, SIGKILLed
    one of the two predictors after 10 answers and went on for 5 s more."""
    cluster = scene.cluster
    cluster.deployed_model()
    victim = cluster.predictors[0]
    with PredictionLoad(cluster.url, ROW) as load:
        wait_until(lambda: load.answered() >= 10 and predictions_served(victim) > 0, 60)
        victim.kill()
        killed = time.monotonic()
        wait_until(lambda: time.monotonic() - killed >= 5 and load.answered(killed) >= 10, 60)
    scene.saw(load.summary())
    assert load.failures == [], load.summary()
    scene.check([])


def predictions_served(predictor: Service) -> float:
    """Predictions this predictor answered, from its /metrics."""
    text = httpx.get(f"{predictor.url}/metrics", timeout=5).text
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("mlops_http_requests_total{") and 'route="/predict"' in line
    )


class SlowUpload:
    """A CSV upload that trickles in, in a thread of its own, until it is told to stop."""

    def __init__(self, url: str, content: bytes):
        self._url, self._content = url, content
        self._stop = threading.Event()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._send, daemon=True)

    def __enter__(self) -> SlowUpload:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _body(self, boundary: str) -> Iterator[bytes]:
        yield (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="slow.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        for start in range(0, len(self._content), 8192):
            if self._stop.is_set():
                return
            yield self._content[start : start + 8192]
            time.sleep(0.05)
        yield f"\r\n--{boundary}--\r\n".encode()

    def _send(self) -> None:
        boundary = uuid.uuid4().hex
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        try:
            body = self._body(boundary)
            httpx.post(f"{self._url}/api/datasets", content=body, headers=headers, timeout=60)
        except httpx.HTTPError as exc:
            self.error = exc


@pytest.mark.fault(
    "the gateway killed mid-upload and started again",
    "no dataset row without its file, the dead upload's temporary file deleted by the restarted "
    "gateway (once an hour old: a fresh one may be another gateway's live upload), and the next "
    "upload works",
)
def test_gateway_killed_mid_upload(scene: Scene) -> None:
    """Trickled a 1 MB CSV upload into the gateway, SIGKILLed the gateway once part of it was
    on disk, aged the temporary file it left by two hours, started the gateway again on the
    same port, then uploaded another file."""
    cluster = scene.cluster
    assert cluster.gateway is not None
    datasets = cluster.data_dir / DATASETS

    def leftovers() -> list[Path]:
        return list(datasets.glob("*.tmp"))

    with SlowUpload(cluster.url, churn_csv(20_000)) as upload:
        wait_until(lambda: any(p.stat().st_size > 0 for p in leftovers()), 30, every=0.02)
        cluster.gateway.kill()
    left = leftovers()
    scene.saw(f"upload cut ({type(upload.error).__name__}), {len(left)} temporary file left")
    # Gateways share the data folder, so a fresh temporary file may be another one's upload in
    # progress: the product deletes only those over an hour old (gateway/handlers/cleanup.py).
    hours_ago = time.time() - 7200
    for path in left:
        os.utime(path, (hours_ago, hours_ago))
    cluster.restart_gateway()
    cluster.wait_healthy()
    with contextlib.suppress(AssertionError):  # judged just below
        wait_until(lambda: not leftovers(), 15, every=0.2)
    scene.saw(f"temporary files after the restart: {[p.name for p in leftovers()]}")
    assert leftovers() == [], "the restarted gateway left the dead upload's temporary file"
    with cluster.api() as api:
        answer = api.post("/api/datasets", files={"file": ("next.csv", churn_csv(), "text/csv")})
    scene.saw(f"next upload answered {answer.status_code}")
    assert answer.status_code == 201, answer.text
    scene.check([])
