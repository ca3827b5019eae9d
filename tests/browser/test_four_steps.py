"""The main screen, as a first-time user meets it: a sample CSV in one click, training watched
live, results in plain words, the model switched on, one prediction and a whole file scored."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from services.gateway.samples import find
from tests.browser.conftest import screenshot, visible_buttons

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
JARGON = re.compile(r"\b(fit|fitting|hyperparameters?|F1|epochs?|inference|payload)\b", re.I)


def main_screen_is_simple(page: Page, step: str) -> None:
    buttons = visible_buttons(page)
    assert len(buttons) <= 3, f"{step}: {buttons}"
    words = page.locator("#page-home").inner_text()  # closed "Technical details" are not shown
    assert not JARGON.search(words), f"{step}: {JARGON.search(words)}"


def test_sample_to_first_prediction(page: Page) -> None:
    page.request.put("/api/settings", data={"time_budget_s": 10})
    page.goto("/")
    expect(page.locator("#connection-status")).to_have_text("Connection: good")
    expect(page.locator("#reading-cpu .reading-value")).to_have_text(re.compile(r"\d+%"))
    main_screen_is_simple(page, "upload")
    screenshot(page, "1-upload")

    # 1 Upload: a sample in one click; the data's light and notes in words.
    page.get_by_label("No file at hand? Try one of ours:").select_option("late_deliveries")
    page.get_by_role("button", name="Try this example").click()
    expect(page.locator("#dataset-name")).to_have_text("late_deliveries.csv")
    expect(page.locator("#dataset-light")).to_contain_text(re.compile("Looks good|Usable|Problems"))
    expect(page.locator("#target-select")).to_have_value("arrived_late")
    main_screen_is_simple(page, "uploaded")
    screenshot(page, "1-uploaded")

    # 2 Train: live progress in words with time left; a way to stop.
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.locator("#cancel-hint")).to_contain_text("keeps the best model found so far")
    expect(page.locator("#progress-stage")).not_to_have_text(re.compile("Waiting"))
    expect(page.locator("#progress-percent")).not_to_have_text("0%")  # live progress arrives
    main_screen_is_simple(page, "training")
    screenshot(page, "2-training")

    # 3 Results: how good, in words and numbers, with a light that says what it means.
    results = page.locator("#step-results")
    expect(results).to_be_visible(timeout=90_000)
    expect(page.locator("#result-score")).to_have_text(
        re.compile(r"Right (about )?\d+ times out of 100")
    )
    expect(page.locator("#result-light")).to_contain_text(re.compile("Good|Fair|Weak"))
    expect(page.locator("#importance-list li").first).to_be_visible()
    expect(page.locator("#confusion-sentences li").first).to_contain_text("times out of 100")
    expect(page.locator("#activity-feed")).to_contain_text("A new model is ready")
    main_screen_is_simple(page, "results")
    screenshot(page, "3-results")
    notes = page.evaluate("window.__notifications")
    assert [n["title"] for n in notes] == ["Your model is ready"]

    # 4 Use: one click switches it on; a form built from the model's columns answers one row.
    page.get_by_role("button", name="Use this model").click()
    expect(page.locator("#use-area")).to_be_visible()
    expect(page.get_by_label("weather")).to_be_visible()
    page.get_by_label("weather").select_option("snow")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#prediction-output")).to_contain_text(
        re.compile(r"Prediction: (late|on time) \((very|fairly|not very) sure\)")
    )
    expect(page.locator("#prediction-output")).to_contain_text(re.compile(r"Chances: .*\d+%"))
    main_screen_is_simple(page, "use")
    screenshot(page, "4-use")

    # Picking another column to predict puts the model for this one aside until it is trained.
    page.get_by_label("Which column should the computer learn to predict?").select_option("weather")
    expect(page.locator("#step-use")).to_be_hidden()
    expect(page.get_by_role("button", name="Train again")).to_be_visible()
    main_screen_is_simple(page, "another column")
    page.get_by_label("Which column should the computer learn to predict?").select_option(
        "arrived_late"
    )
    expect(page.locator("#use-area")).to_be_visible()

    # ... and a whole CSV comes back with a prediction on every row.
    sample = find("late_deliveries").path.read_text().splitlines()
    rows = [",".join(line.split(",")[:-1]) for line in sample[:21]]  # without the answer
    with page.expect_download() as download:
        page.locator("#batch-file-input").set_input_files(
            files=[{"name": "new.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}]
        )
    scored = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(scored) == 20 and all(r["prediction"] in ("late", "on time") for r in scored)
    assert {"how_sure", "unusual"} <= set(scored[0])
    expect(page.locator("#download-link")).to_be_visible()
