"""The page keeps working when the server goes away: it says so, reconnects by itself without a
reload, and catches up on what happened meanwhile (a job that finished while it was away)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, Product, screenshot
from tests.e2e.processes import distributed_env, gateway_env, start, start_all, wait_until
from tests.support import churn_csv, delete_bus_namespace

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
OUTAGE_NOISE = [  # what Chromium itself logs while the server is down
    re.compile(r"WebSocket connection to .* failed"),
    re.compile(r"Failed to load resource"),
    re.compile(r"ERR_CONNECTION_REFUSED"),
]


def mark_page(page: Page) -> None:
    """A flag that only survives if the page is never reloaded."""
    page.evaluate("window.__sameDocument = true")


def still_same_page(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def test_page_recovers_after_the_server_restarts(
    page: Page, product: Product, console: Console
) -> None:
    console.allow.extend(OUTAGE_NOISE)
    page.goto("/")
    expect(page.locator("#connection-status")).to_have_text("Connection: good")
    page.get_by_role("button", name="Try this example").click()
    expect(page.locator("#dataset-info")).to_be_visible()
    mark_page(page)

    product.stop()
    expect(page.locator("#connection-status")).to_have_text(re.compile("Reconnecting|Offline"))
    screenshot(page, "reconnecting")
    product.start()
    expect(page.locator("#connection-status")).to_have_text("Connection: good", timeout=45_000)
    assert still_same_page(page)

    # Still fully working: the same data on screen, and training starts and reports live.
    page.request.put("/api/settings", data={"time_budget_s": 5})
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#step-results")).to_be_visible(timeout=90_000)


@pytest.fixture
def distributed(tmp_path: Path, amqp_url: str, postgres_url: str):  # type: ignore[no-untyped-def]
    """Gateway, trainer, predictor and metrics as separate processes on RabbitMQ + PostgreSQL,
    so the gateway can be taken away while the trainer goes on."""
    env, logs, services = distributed_env(tmp_path, amqp_url, postgres_url), tmp_path / "logs", []
    gateway = Product(tmp_path)
    try:
        gateway.service = start_all(env, logs, services)
        gateway.port, gateway.env = gateway.service.port, gateway_env(env, services[0])
        yield gateway, env, logs
    finally:
        gateway.stop()  # the one running now: the test restarts it
        for service in reversed(services):
            service.stop()
        # Playwright's sync API owns this thread's event loop: clean up from another one.
        namespace = env["MLOPS_BUS_NAMESPACE"]
        with ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: asyncio.run(delete_bus_namespace(amqp_url, namespace))).result()


@pytest.mark.integration
def test_a_job_that_finishes_while_the_page_is_cut_off_shows_as_finished(
    browser, distributed, console: Console, tmp_path: Path
) -> None:
    gateway, env, logs = distributed
    console.allow.extend(OUTAGE_NOISE)
    context = browser.new_context(base_url=gateway.url)
    page = context.new_page()
    page.on("console", lambda m: console.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.errors.append(f"uncaught: {e}"))
    try:
        page.request.put("/api/settings", data={"time_budget_s": 10})
        page.goto("/")
        page.locator("#file-input").set_input_files(
            files=[{"name": "churn.csv", "mimeType": "text/csv", "buffer": churn_csv(rows=3000)}]
        )
        expect(page.locator("#dataset-name")).to_have_text("churn.csv")
        page.get_by_role("button", name="Start training").click()
        expect(page.locator("#progress-stage")).not_to_have_text(
            re.compile("Waiting"), timeout=30_000
        )
        mark_page(page)

        gateway.stop()  # the page is cut off; the trainer goes on without it
        expect(page.locator("#connection-status")).to_have_text(re.compile("Reconnecting|Offline"))
        models = Path(env["MLOPS_DATA_DIR"]) / "models"
        wait_until(lambda: list(models.glob("*.joblib")), timeout=90)  # the job has finished
        assert page.locator("#step-results").is_hidden()

        gateway.service = start("gateway", gateway.env, logs, port=gateway.port)
        expect(page.locator("#step-results")).to_be_visible(timeout=60_000)
        expect(page.locator("#train-status")).to_contain_text("Finished")
        expect(page.locator("#connection-status")).to_have_text("Connection: good", timeout=30_000)
        assert still_same_page(page)
        screenshot(page, "caught-up-after-reconnecting")
    finally:
        context.close()
    assert console.unexpected() == []
