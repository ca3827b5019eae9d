"""The gateway's HTTP app: the API routes (shared/API.md), the dashboard and /metrics."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from services.common.background import Repeating
from services.common.web import error_response, service_app
from services.gateway.bootstrap import Gateway
from services.gateway.entrypoints import (
    datasets,
    dead_letters,
    jobs,
    models,
    samples,
    system,
)

# The charts on the Monitoring page use the plotly.js shipped inside the `plotly` package, so the
# dashboard needs neither a CDN nor a copy of third-party JavaScript in the repository.
PLOTLY_JS = ("plotly", "package_data/plotly.min.js")
VENDOR_HEADERS = {"Cache-Control": "public, max-age=86400"}
JAVASCRIPT = "text/javascript; charset=utf-8"


def vendor_file(package: str, path: str) -> Path | None:
    """A data file shipped inside an installed package, or None when it is not there."""
    try:
        found = resources.files(package).joinpath(path)
    except ModuleNotFoundError:
        return None
    return Path(str(found)) if found.is_file() else None


def build_app(gateway: Gateway, cleaner: Repeating, frontend: Path) -> FastAPI:
    """The gateway's app; routes take the parts they use from `app.state` (entrypoints/deps)."""
    app = service_app(
        "gateway",
        gateway.health,
        title="No-code ML dashboard API",
        version="1.0.0",
        description="Upload a CSV, train a model, switch it on, and ask it for predictions.",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.gateway, app.state.cleaner = gateway, cleaner
    for routes in (datasets, jobs, models, samples, system, dead_letters):
        app.include_router(routes.router)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> Response:
        found = vendor_file(*PLOTLY_JS)
        if found is None:
            return error_response(
                404, "The chart library is not installed on the server.", "not_found"
            )
        return FileResponse(found, media_type=JAVASCRIPT, headers=VENDOR_HEADERS)

    if frontend.is_dir():
        app.mount("/static", StaticFiles(directory=frontend), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(frontend / "index.html")

    return app
