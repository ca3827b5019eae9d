"""PostgreSQL goes away under the gateway: results wait for it, predictions do without it."""

from __future__ import annotations

import time

import pytest

from services.common.storage import model_path
from tests.e2e.processes import wait_until
from tests.faults.cluster import ROW, wait_for_file
from tests.faults.load import PredictionLoad
from tests.faults.scene import Scene

CUT_S = 30
BLINK_S = 3


def hold(since: float, seconds: float) -> None:
    """Let a fault last its planned length (a duration, not a wait for a condition)."""
    time.sleep(max(0.0, seconds - (time.monotonic() - since)))


@pytest.mark.fault(
    f"PostgreSQL cut for {CUT_S} s while a job trains and finishes",
    "the job ends succeeded with its model once the database is back; nothing dead-lettered",
)
def test_database_cut_while_a_job_finishes(scene: Scene) -> None:
    """Asked for a 5 s training, cut the gateway's PostgreSQL connections (new ones refused)
    once a trainer had it, let the training finish during the cut, restored the database after
    30 s."""
    cluster = scene.cluster
    with cluster.api() as api:
        job_id, model_id = cluster.train(api, budget=5)
        cluster.wait_running(api, job_id)
    cluster.database.cut()
    cut_at = time.monotonic()
    try:
        finished = wait_for_file(cluster.data_dir / model_path(model_id), 60)
        scene.saw(f"training finished {finished - cut_at:.0f} s into the cut")
        hold(cut_at, CUT_S)
    finally:
        cluster.database.restore()
    restored = time.monotonic()
    job = cluster.check.wait_final([job_id], 120)[job_id]
    scene.saw(f"job {job.status} {time.monotonic() - restored:.0f} s after the database was back")
    scene.check([job_id])
    assert job.status == "succeeded", job.error


@pytest.mark.fault(
    f"PostgreSQL blinks for {BLINK_S} s as training ends",
    "the job ends succeeded with its model; nothing dead-lettered",
)
def test_database_blink_as_training_ends(scene: Scene) -> None:
    """Asked for a 5 s training, cut PostgreSQL the moment the trainer began writing the model
    file (so the outcome reached the gateway during the cut), restored it 3 s later."""
    cluster = scene.cluster
    with cluster.api() as api:
        job_id, model_id = cluster.train(api, budget=5)
        cluster.wait_running(api, job_id)
    wait_for_file(cluster.data_dir / (model_path(model_id) + ".sig"), 60)
    cluster.database.cut()
    cut_at = time.monotonic()
    try:
        before = cluster.check.job(job_id).status  # read directly, not through the proxy
        hold(cut_at, BLINK_S)
    finally:
        cluster.database.restore()
    scene.saw(f"the job was {before!r} when the database went")
    assert before != "succeeded", "the blink came after the outcome was recorded: nothing tested"
    job = cluster.check.wait_final([job_id], 120)[job_id]
    scene.saw(f"job {job.status}")
    scene.check([job_id])
    assert job.status == "succeeded", job.error


@pytest.mark.fault(
    "PostgreSQL away while predictions are asked for",
    "every prediction through the gateway is answered from the model deployed before",
)
def test_predictions_while_the_database_is_away(scene: Scene) -> None:
    """Deployed a model, cut PostgreSQL, sent predictions through the gateway from three
    clients for 5 s, restored the database."""
    cluster = scene.cluster
    model_id = cluster.deployed_model()
    with cluster.api() as api:
        answer = api.post("/api/predict", json={"rows": [ROW]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_id"] == model_id
    cluster.database.cut()
    try:
        with PredictionLoad(cluster.url, ROW) as load:
            started = time.monotonic()
            wait_until(lambda: time.monotonic() - started >= 5 and load.answered() >= 10, 60)
    finally:
        cluster.database.restore()
    scene.saw(load.summary())
    assert load.failures == [], load.summary()
    scene.check([])
