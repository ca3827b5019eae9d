"""The pages beyond Home: Pipeline, Data, Monitoring, Architecture and Settings, each driven as a
person would, with live updates arriving while the page is open."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.support import churn_csv

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
POINTS = "document.getElementById('monitoring-usage-chart').data[0].x.length"
JARGON = re.compile(r"\b(fit|fitting|hyperparameters?|F1|epochs?|inference|payload)\b", re.I)


def plain(page: Page, name: str) -> None:
    words = page.locator(f"#page-{name}").inner_text()
    assert not JARGON.search(words), f"{name}: {JARGON.search(words)}"


def upload(page: Page, name: str, rows: int = 300) -> dict:
    answer = page.request.post(
        "/api/datasets",
        multipart={"file": {"name": name, "mimeType": "text/csv", "buffer": churn_csv(rows)}},
    )
    assert answer.status == 201, answer.text()
    return answer.json()


def test_pipeline_follows_a_run_live_and_data_shows_and_deletes_a_file(page: Page) -> None:
    dataset = upload(page, "churn.csv")
    upload(page, "old customers.csv", rows=60)
    page.goto("/#/pipeline")
    expect(page.get_by_text("No training runs yet")).to_be_visible()

    # A run asked for elsewhere appears by itself, shows its progress, and finishes with a light.
    job = page.request.post("/api/jobs", data={"dataset_id": dataset["id"], "time_budget_s": 5})
    assert job.status == 202, job.text()
    run = page.locator(".run").first
    expect(run.locator(".run-title")).to_have_text("Predicting “churn” from churn.csv")
    expect(run.locator(".run-status")).to_have_text(re.compile("Waiting|Training|Finished"))
    expect(run.locator(".run-status")).to_have_text(re.compile("Finished"), timeout=90_000)
    expect(run.locator(".light")).to_contain_text(re.compile("Good|Fair|Weak"))
    expect(run.locator(".light")).to_contain_text("times out of 100")
    expect(run.locator(".run-step")).to_have_count(3)
    expect(page.locator(".pipeline-summary")).to_have_text("1 training run: 1 finished.")
    plain(page, "pipeline")
    screenshot(page, "pages-pipeline")

    # The data's name leads to the Data page, with its columns in plain words and its first rows.
    run.get_by_role("link", name="churn.csv").click()
    expect(page.locator("#data-detail-title")).to_have_text("churn.csv")
    columns = page.get_by_role("region", name="Columns of churn.csv")
    expect(columns.get_by_role("row", name=re.compile("customer_id"))).to_contain_text(
        "ID (not used)"
    )
    expect(columns.get_by_role("row", name=re.compile("plan"))).to_contain_text("category")
    expect(page.locator(".preview tbody tr")).to_have_count(20)
    plain(page, "data")
    screenshot(page, "pages-data")

    # Delete another file: a real question first; "Keep it" keeps it.
    page.get_by_role("button", name="old customers.csv").click()
    expect(page.locator("#data-detail-title")).to_have_text("old customers.csv")
    page.get_by_role("button", name="Delete this file").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_have_accessible_name("Delete “old customers.csv”?")
    expect(dialog).to_contain_text("Models already made from it keep working.")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Delete this file").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#page-data [role=status]").first).to_have_text(
        "Deleted “old customers.csv”. Models already made from it keep working."
    )
    expect(page.get_by_role("button", name="old customers.csv")).to_have_count(0)


def test_monitoring_draws_live_charts_and_architecture_lights_up(page: Page) -> None:
    page.goto("/#/monitoring")
    usage = page.locator("#monitoring-usage-chart")
    expect(usage.locator(".main-svg").first).to_be_attached()
    expect(page.locator("#monitoring-usage-chart-alt")).to_have_text(re.compile(r"% in use now"))
    before = page.evaluate(POINTS)
    page.wait_for_function(f"{POINTS} > {before}")  # a new reading extends the lines
    services = page.locator(".service-list")
    expect(services.locator(".service")).to_have_count(6)
    expect(services).to_contain_text("Working")
    expect(services).to_contain_text("1 running")
    expect(page.locator("#page-monitoring")).to_contain_text("getting live updates")
    plain(page, "monitoring")
    screenshot(page, "pages-monitoring")

    page.goto("/#/architecture")
    expect(page.locator(".arch-svg")).to_be_visible()
    expect(page.locator(".arch-list")).to_contain_text("Database (SQLite): Working.")
    expect(page.locator(".arch-list")).to_contain_text("Trainer: Working, 1 running.")
    expect(page.locator(".arch-edge-lit[data-edge='readings']")).to_be_attached()
    expect(page.locator(".arch-latest")).to_contain_text("readings service measured")
    dead = page.get_by_role("region", name="Messages that could not be handled")
    expect(dead).to_contain_text("None: every message was handled.")
    plain(page, "architecture")
    screenshot(page, "pages-architecture")


def test_settings_round_trip_and_explain_themselves(page: Page) -> None:
    page.request.put(
        "/api/settings",
        data={
            "time_budget_s": 45,
            "algorithm": "linear",
            "notify_on_complete": False,
            "cleanup_after_days": 12,
        },
    )
    page.goto("/#/settings")
    time_limit = page.get_by_label("Time limit for training")
    expect(time_limit).to_have_value("45")
    expect(time_limit.locator("option:checked")).to_have_text("45 seconds")
    expect(page.get_by_label("Kind of model")).to_have_value("linear")
    expect(page.get_by_label("Delete old data automatically")).to_be_checked()
    expect(page.get_by_label("after")).to_have_value("12")

    page.get_by_label("Kind of model").select_option("auto")
    expect(page.locator("#settings-algorithm-hint")).to_contain_text("keeps the best one")
    page.get_by_label("Tell me when training finishes").check()
    expect(page.locator("#page-settings .check-field .notice")).to_contain_text(
        "will show a message"
    )
    page.get_by_label("Delete old data automatically").uncheck()
    expect(page.get_by_label("after")).to_be_disabled()
    time_limit.select_option("120")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("form.settings-form > .notice")).to_have_text(
        "Saved. New training runs use these settings."
    )
    assert page.request.get("/api/settings").json() == {
        "time_budget_s": 120,
        "algorithm": "auto",
        "notify_on_complete": True,
        "cleanup_after_days": None,
    }
    page.get_by_label("Delete old data automatically").check()
    page.get_by_label("after").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("form.settings-form > .notice")).to_contain_text("between 1 and 3650")
    expect(page.get_by_label("after")).to_be_focused()
    plain(page, "settings")
    screenshot(page, "pages-settings")
