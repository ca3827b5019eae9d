"""How long a first-time user waits: from pressing "Try this example" to the first prediction,
on each sample CSV, in Debian's Chromium against `mlops all` on its defaults (the saved time
limit included). Clicks only what the screen offers; writes bench/results/first_prediction.md."""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from services.gateway.samples import SAMPLES
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.e2e.processes import start

RESULTS = Path(__file__).parent / "results" / "first_prediction.md"


def first_prediction(page: Page, url: str, sample: str) -> dict[str, object]:
    page.set_default_timeout(300_000)  # clicks wait for the next button as long as training takes
    page.goto(url)
    page.get_by_label("No file at hand? Try one of ours:").select_option(sample)
    began = time.monotonic()
    page.get_by_role("button", name="Try this example").click()
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("button", name="Use this model").click()
    trained = time.monotonic()
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#prediction-output")).to_contain_text("Prediction:")
    return {
        "sample": sample,
        "to_model_s": round(trained - began, 1),
        "to_prediction_s": round(time.monotonic() - began, 1),
        "light": page.locator("#result-light .light-title").inner_text(),
        "result": page.locator("#result-score").inner_text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    expect.set_options(timeout=300_000)
    rows = []
    for sample in SAMPLES:  # a fresh product each time: the page starts at step 1
        root = Path(tempfile.mkdtemp(prefix="first-prediction-"))
        product = start("all", {"MLOPS_DATA_DIR": str(root / "data")}, root / "logs")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_ARGS
                )
                rows.append(first_prediction(browser.new_page(), product.url, sample.name))
                browser.close()
        finally:
            product.stop()
        print(rows[-1])
    lines = [
        '# From "Try this example" to the first prediction',
        "",
        "`make bench-first-prediction`: `mlops all` on its defaults (60 s time limit), Debian's",
        "Chromium, clicking only what the screen offers. Seconds of wall time on this machine.",
        "",
        "| sample | model ready | first prediction | light | in words |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {r['sample']} | {r['to_model_s']} s | {r['to_prediction_s']} s | {r['light']} "
            f"| {re.sub(r'[|]', '/', str(r['result']))} |"
            for r in rows
        ),
        "",
    ]
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
