"""The gateway serves plotly.js from the installed package, and /api/system describes the setup
the Monitoring and Architecture pages draw."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.gateway.entrypoints import http
from tests.support import eventually, running_product

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_product(
        data_dir=tmp_path, broker_url="memory://", database_url="", metrics_interval_s=0.2
    ) as client:
        yield client


async def test_plotly_is_served_as_cacheable_javascript(api: httpx.AsyncClient) -> None:
    response = await api.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=86400" in response.headers["cache-control"]
    assert len(response.content) > 1_000_000 and b"plotly" in response.content[:2000].lower()


async def test_missing_plotly_is_a_plain_json_404(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "PLOTLY_JS", ("plotly", "package_data/no-such-file.js"))
    response = await api.get("/vendor/plotly.min.js")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "The chart library is not installed on the server.",
        "code": "not_found",
    }


def test_vendor_file_of_a_package_that_is_not_installed() -> None:
    assert http.vendor_file("no_such_package_here", "x.js") is None


async def test_system_names_the_database_and_broker(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/system")).json()
    assert body["setup"] == {"database": "SQLite", "broker": "in-process", "email": False}
    assert set(body["instances"]) == {"trainer", "predictor", "metrics"}
    assert isinstance(body["history"], list) and isinstance(body["websocket_clients"], int)


async def test_system_can_leave_the_history_out(api: httpx.AsyncClient) -> None:
    async def sampled() -> bool:
        return bool((await api.get("/api/system")).json()["history"])

    await eventually(sampled, within=10)
    body = (await api.get("/api/system", params={"history": "false"})).json()
    assert body["history"] == [] and body["metrics"] is not None
