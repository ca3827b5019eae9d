"""The gateway's HTTP app: the API routes (shared/API.md), the dashboard and /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.common.web import install_common
from services.gateway.entrypoints import datasets, jobs, models, system

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway


def build_app(gateway: Gateway, frontend: Path) -> FastAPI:
    app = FastAPI(
        title="No-code ML dashboard API",
        version="1.0.0",
        description="Upload a CSV, train a model, switch it on, and ask it for predictions.",
    )
    app.state.gateway = gateway
    install_common(app, "gateway")
    for routes in (datasets, jobs, models, system):
        app.include_router(routes.router)
    if frontend.is_dir():
        app.mount("/static", StaticFiles(directory=frontend), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(frontend / "index.html")

    return app
