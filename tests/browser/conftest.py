"""Browser tests: the product started as `make run` starts it, driven by Playwright in Debian's
Chromium (Playwright's own browser download cannot work here). Each test's page fails on console
errors; screenshots go to tests/artifacts/screenshots (git-ignored) for a person to look at."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.processes import Service, start

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is marked `browser`."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str:
    found = os.environ.get("MLOPS_TEST_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true never skips")
    pytest.skip(message)


@pytest.fixture(scope="module")  # Playwright's sync API holds an event loop while it runs:
def browser() -> Iterator[object]:  # end it with the module, before other tests use asyncio.run
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Product]:
    """The whole product in one process on its embedded defaults (in-process bus, SQLite)."""
    running = Product(tmp_path)
    running.start()
    yield running
    running.stop()


@dataclass
class Product:
    root: Path
    service: Service | None = None
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        env = {
            "MLOPS_DATA_DIR": str(self.root / "data"),
            "MLOPS_BROKER_URL": "memory://",
            "MLOPS_DATABASE_URL": "",
            "MLOPS_METRICS_INTERVAL_S": "1",
            "MLOPS_HEARTBEAT_INTERVAL_S": "1",
            **self.env,
        }
        self.service = start("all", env, self.root / "logs", port=self.port)
        self.port = self.service.port  # a restart comes back on the same address

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Console:
    """What the page said on its console; network noise during a planned outage can be allowed."""

    errors: list[str] = field(default_factory=list)
    allow: list[re.Pattern[str]] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allow)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser, product: Product, console: Console, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=product.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    context.grant_permissions(["notifications"], origin=product.url)
    # Record notifications the page shows, so a test can see them without a desktop.
    context.add_init_script(
        """(() => {
          const Real = window.Notification;
          window.__notifications = [];
          class Recording extends Real {
            constructor(title, options) {
              super(title, options);
              window.__notifications.push({ title, ...options });
            }
          }
          Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
          Recording.requestPermission = (...args) => Real.requestPermission(...args);
          window.Notification = Recording;
        })();"""
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: console.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.errors.append(f"uncaught: {e}"))
    yield page
    context.close()
    assert console.unexpected() == [], "the page logged errors"


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def visible_buttons(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every visible thing that is a button to the user or to assistive technology (a file
    picker is one too), by its accessible name."""
    found = page.get_by_role("button").filter(visible=True).all()
    return [b.evaluate("(e) => e.labels?.[0]?.innerText || e.innerText || e.value") for b in found]
