"""Emails when training finishes, against a real local SMTP server (aiosmtpd): one per job even
when the final event comes again, none when switched off, and a broken mail server never stops
a job. Most tests run the whole product in one process (in-memory bus, SQLite); the last one runs
it on RabbitMQ + PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from services.common.events import TrainingSucceeded
from services.common.storage import model_path
from services.gateway.adapters.orm import JobRow, utcnow
from services.gateway.entrypoints.service import GatewayService
from tests.support import churn_csv, eventually, free_port, prices_csv, running_gateway

pytestmark = pytest.mark.timeout(240)
OWNER = "owner@example.com"
JARGON = re.compile(r"\b(f1|hyperparameters?|fit|fitted|fitting)\b", re.IGNORECASE)


class Inbox:
    """An aiosmtpd handler keeping every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@contextlib.asynccontextmanager
async def product(
    data_dir: Path, smtp_port: int, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, GatewayService]]:
    """The whole product in this event loop, emailing OWNER through 127.0.0.1:`smtp_port`;
    the gateway too, so a test can hand it an event again as a redelivery would."""
    defaults: dict[str, Any] = dict(
        broker_url="memory://",
        database_url="",
        heartbeat_interval_s=0.5,
        metrics_interval_s=0.5,
        public_url="http://dashboard.example",
        smtp_host="127.0.0.1",
        smtp_timeout_s=5,
        notify_email=OWNER,
    )
    async with running_gateway(data_dir=data_dir, smtp_port=smtp_port, **defaults | settings) as (
        client,
        gateway,
    ):
        assert isinstance(gateway, GatewayService)
        yield client, gateway


async def train(api: httpx.AsyncClient, csv: bytes, name: str) -> dict:
    upload = await api.post("/api/datasets", files={"file": (name, csv, "text/csv")})
    assert upload.status_code == 201, upload.text
    return await train_on(api, upload.json()["id"])


async def train_on(api: httpx.AsyncClient, dataset_id: str) -> dict:
    asked = await api.post("/api/jobs", json={"dataset_id": dataset_id, "time_budget_s": 5})
    assert asked.status_code == 202, asked.text

    async def finished() -> dict | None:
        job = (await api.get(f"/api/jobs/{asked.json()['id']}")).json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return await eventually(finished, within=120)


async def save_settings(api: httpx.AsyncClient, **values: Any) -> None:
    saved = await api.put("/api/settings", json=values)
    assert saved.status_code == 200, saved.text


async def email_notes(api: httpx.AsyncClient) -> list[str]:
    items = (await api.get("/api/activity", params={"limit": 500})).json()["items"]
    return [a["message"] for a in items if a["kind"] == "email"]


async def succeeded_again(api: httpx.AsyncClient, job: dict) -> TrainingSucceeded:
    """The job's `training.succeeded` event as the trainer sent it, to hand in once more."""
    model = (await api.get(f"/api/models/{job['model_id']}")).json()
    fields = ("task", "target", "algorithm", "score_name", "score", "light", "summary")
    return TrainingSucceeded(
        correlation_id=job["id"],
        job_id=job["id"],
        model_id=model["id"],
        model_path=model_path(model["id"]),
        dataset_id=model["dataset_id"],
        **{f: model[f] for f in fields},
    )


def assert_plain(message: EmailMessage) -> str:
    body = message.get_content()
    assert message["To"] == OWNER and "Prediction Studio" in message["From"]
    assert not JARGON.search(message["Subject"] + body), body
    return body


async def test_one_email_when_a_model_is_ready_and_none_when_switched_off(
    tmp_path: Path, inbox: Inbox
) -> None:
    async with product(tmp_path, inbox.port) as (api, gateway):
        await save_settings(api, notify_on_complete=False)
        quiet = await train(api, churn_csv(), "churn.csv")
        assert quiet["status"] == "succeeded", quiet
        await save_settings(api, notify_on_complete=True)
        told = await train(api, prices_csv(), "prices.csv")
        assert told["status"] == "succeeded", told

        await eventually(lambda: inbox.messages, within=30)
        # The final event again, several times at once, as redeliveries would bring it.
        again = await succeeded_again(api, told)
        await asyncio.gather(*(gateway.recorder.record(again) for _ in range(3)))
        await gateway.gateway.emails.stop()  # waits for any email still on its way
        notes = await email_notes(api)

    assert len(inbox.messages) == 1, [m["Subject"] for m in inbox.messages]
    message = inbox.messages[0]
    assert message["Subject"] == "Your model for 'price' is ready"
    body = assert_plain(message)
    assert "How good it is:" in body and "typically off by about" in body
    assert "http://dashboard.example" in body
    assert notes == ["An email about the model for 'price' was sent."]


async def test_an_email_when_training_does_not_finish(tmp_path: Path, inbox: Inbox) -> None:
    async with product(tmp_path, inbox.port) as (api, _):
        upload = await api.post("/api/datasets", files={"file": ("c.csv", churn_csv(), "text/csv")})
        assert upload.status_code == 201, upload.text
        # The file loses its rows after the upload was checked, so training cannot finish.
        (tmp_path / "datasets" / f"{upload.json()['id']}.csv").write_text("a,b,churn\n")
        job = await train_on(api, upload.json()["id"])
        assert job["status"] == "failed", job
        await eventually(lambda: inbox.messages, within=30)

    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["Subject"] == "Training for 'churn' did not finish"
    assert job["error"] in assert_plain(message)


async def test_an_email_when_a_job_is_given_up_on_after_its_trainers_died(
    tmp_path: Path, inbox: Inbox
) -> None:
    """The watchdog, not a trainer, fails a job that kept killing its trainers: email too."""
    async with product(tmp_path, inbox.port) as (api, gateway):
        past = utcnow() - timedelta(hours=1)
        with gateway.gateway.db.unit_of_work() as session:
            session.add(
                JobRow(
                    id="lost-job",
                    dataset_id="gone",
                    target="churn",
                    time_budget_s=60,
                    status="running",
                    stage="Training",
                    model_id="lost-model",
                    attempts=gateway.gateway.bus.max_deliveries,
                    updated_at=past,
                    started_at=past,
                )
            )

        async def given_up() -> bool:
            return (await api.get("/api/jobs/lost-job")).json()["status"] == "failed"

        assert await eventually(given_up, within=30)  # found on the watchdog's own rounds
        await eventually(lambda: inbox.messages, within=30)

    assert [m["Subject"] for m in inbox.messages] == ["Training for 'churn' did not finish"]
    assert "kept stopping" in assert_plain(inbox.messages[0])


async def test_a_broken_mail_server_never_stops_a_job(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens here
    async with product(tmp_path, closed) as (api, _):
        job = await train(api, churn_csv(), "churn.csv")
        assert job["status"] == "succeeded", job
        notes = await eventually(lambda: email_notes(api), within=30)
        assert notes == [
            "The email about the model for 'churn' could not be sent: "
            "the mail server could not be reached."
        ]
        model = await api.get(f"/api/models/{job['model_id']}")
        assert model.status_code == 200 and (await api.get("/health")).status_code == 200


@pytest.mark.integration
async def test_one_email_on_rabbitmq_and_postgres(
    tmp_path: Path, inbox: Inbox, amqp_url: str, postgres_url: str, namespace: str
) -> None:
    infra = dict(broker_url=amqp_url, database_url=postgres_url, bus_namespace=namespace)
    async with product(tmp_path, inbox.port, **infra) as (api, gateway):
        job = await train(api, churn_csv(), "churn.csv")
        assert job["status"] == "succeeded", job
        await eventually(lambda: inbox.messages, within=30)
        # Redeliveries racing each other on PostgreSQL's row lock still tell nobody again.
        again = await succeeded_again(api, job)
        await asyncio.gather(*(gateway.recorder.record(again) for _ in range(4)))
        await gateway.gateway.emails.stop()

    assert [m["Subject"] for m in inbox.messages] == ["Your model for 'churn' is ready"]
    assert "It was right" in assert_plain(inbox.messages[0])
