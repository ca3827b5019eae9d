"""RabbitMQ cut, silently partitioned, or missing the jobs queue: training goes on, the gateway
says what it sees, and no job is lost."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import httpx
import pytest

from services.common.events import TRAINING_QUEUE
from services.common.storage import model_path
from tests.e2e.processes import wait_until
from tests.faults.scene import Scene

CUT_S = 15
PARTITION_S = 45
NOTICE_WITHIN_S = 30  # what is asked is about 15 s; this bound only keeps a hang from lasting
MISSING_S = 5


def hold(since: float, seconds: float) -> None:
    """Let a fault last its planned length (a duration, not a wait for a condition)."""
    time.sleep(max(0.0, seconds - (time.monotonic() - since)))


def broker_state(url: str) -> str:
    """What the gateway's /health says of the broker ("no answer" when it does not answer)."""
    try:
        return str(httpx.get(f"{url}/health", timeout=5).json()["components"]["broker"])
    except (httpx.HTTPError, ValueError, KeyError):
        return "no answer"


@pytest.mark.fault(
    f"RabbitMQ cut for {CUT_S} s during training",
    "training is not restarted (attempts stays 1) and the job ends succeeded",
)
def test_broker_cut_during_training(scene: Scene) -> None:
    """Asked for a 12 s training on a larger table, cut every service's RabbitMQ connections
    (new ones refused) once a trainer was on it, restored them 15 s later."""
    cluster = scene.cluster
    with cluster.api() as api:
        job_id, model_id = cluster.train(api, budget=12, rows=20_000)
        cluster.wait_running(api, job_id)
    cluster.broker.cut()
    cut_at, cut_wall = time.monotonic(), time.time()
    try:
        hold(cut_at, CUT_S)
    finally:
        cluster.broker.restore()
    job = cluster.check.wait_final([job_id], 120)[job_id]
    model_file = cluster.data_dir / model_path(model_id)
    if model_file.exists():
        scene.saw(f"training finished {model_file.stat().st_mtime - cut_wall:.0f} s into the cut")
    scene.saw(f"job {job.status} after {job.attempts} attempt(s)")
    scene.check([job_id])
    assert job.status == "succeeded", job.error
    assert job.attempts == 1, "training was started again after the broker came back"


@pytest.mark.fault(
    f"RabbitMQ silently partitioned for {PARTITION_S} s",
    "/health says the broker is not ok within about 15 s and ok after; the job asked for "
    "meanwhile is trained",
)
def test_broker_silent_partition(scene: Scene) -> None:
    """Dropped every byte between the services and RabbitMQ both ways for 45 s, connections
    left open and new ones accepted into nothing; asked for a 5 s training at its start and
    polled the gateway's /health; then let the bytes through again."""
    cluster = scene.cluster
    cluster.broker.blackhole()
    started = time.monotonic()
    try:
        with cluster.api() as api:
            job_id, _ = cluster.train(api, budget=5)
        state = wait_until(  # an answer that says so: a /health that hangs says nothing
            lambda: (s := broker_state(cluster.url)) not in ("ok", "no answer") and s,
            NOTICE_WITHIN_S,
            every=0.5,
        )
        scene.saw(f"/health said the broker was {state!r} after {time.monotonic() - started:.0f} s")
        hold(started, PARTITION_S)
    finally:
        cluster.broker.restore()
    restored = time.monotonic()
    wait_until(lambda: broker_state(cluster.url) == "ok", 60, every=0.5)
    scene.saw(f"'ok' again {time.monotonic() - restored:.0f} s after the partition ended")
    job = cluster.check.wait_final([job_id], 120)[job_id]
    scene.saw(f"job {job.status}")
    scene.check([job_id])
    assert job.status == "succeeded", job.error


async def _delete_queue(amqp_url: str, name: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


@pytest.mark.fault(
    "a job asked for while the jobs queue is missing",
    "the job is not lost: it is trained once a trainer is back",
)
def test_job_published_while_its_queue_is_missing(scene: Scene) -> None:
    """Killed both trainers, deleted the jobs queue on RabbitMQ, asked for a 5 s training and
    left the queue missing for 5 s, then started the trainers again (they declare the queue)."""
    cluster = scene.cluster
    for trainer in cluster.trainers:
        trainer.kill()
    asyncio.run(_delete_queue(cluster.amqp_url, f"{cluster.namespace}.{TRAINING_QUEUE}"))
    with cluster.api() as api:
        job_id, _ = cluster.train(api, budget=5)
    hold(time.monotonic(), MISSING_S)
    cluster.ready()  # the trainers come back
    job = cluster.check.wait_final([job_id], 90)[job_id]
    scene.saw(f"job {job.status}")
    scene.check([job_id])
    assert job.status == "succeeded", job.error
