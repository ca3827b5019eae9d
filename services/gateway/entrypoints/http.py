"""HTTP and WebSocket routes: thin translators between the API (shared/API.md) and handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from services.common.errors import AppError, BadInput
from services.common.web import install_common
from services.gateway.adapters.uploads import TooLarge, Upload, looks_like_csv, receive_upload
from services.gateway.handlers import activity, datasets, jobs, models
from services.gateway.handlers import settings as user_settings
from services.gateway.live import message
from services.gateway.schemas import (
    ActivityList,
    Dataset,
    DatasetList,
    Deployment,
    Health,
    Job,
    JobList,
    JobRequest,
    Model,
    ModelList,
    PredictRequest,
    PredictResponse,
    Preview,
    UserSettings,
)

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway

T = TypeVar("T")
_MULTIPART_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "target": {
                            "type": "string",
                            "description": "Column to predict (default: the last)",
                        },
                    },
                }
            }
        },
    }
}


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated["Gateway", Depends(_gateway)]


async def _run(gw: Gateway, work: Callable[[Session], T]) -> T:
    """Run a handler in one unit of work on a worker thread, then let the outbox publish."""

    def blocking() -> T:
        with gw.db.unit_of_work() as session:
            return work(session)

    result = await asyncio.to_thread(blocking)
    gw.relay.wake()
    return result


async def _receive_csv(request: Request, gw: Gateway) -> Upload:
    """Stream an uploaded CSV to a temporary file; refuse what is too large or not a CSV."""
    limit, limit_mb = gw.settings.max_upload_bytes, gw.settings.max_upload_mb
    declared = request.headers.get("content-length", "")
    too_large = TooLarge(
        f"The file is larger than the {limit_mb} MB limit. Please upload a smaller file."
    )
    if declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise too_large  # refused before reading a byte
    temp = gw.store.temp_file()
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""), request.stream(), temp, limit, limit_mb
        )
        with temp.open("rb") as handle:
            head = handle.read(8192)
        if not looks_like_csv(upload.filename, head):
            raise AppError(
                "That file is not a CSV. Please save your data as CSV and upload it again.",
                code="not_csv",
                status=415,
            )
        if upload.size == 0 or not head.strip():
            raise BadInput(
                "The file is empty. Please upload a CSV with a header row and some data.",
                code="bad_csv",
            )
        return upload
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _routes() -> APIRouter:  # noqa: C901 - one flat list of thin routes reads best
    r = APIRouter()

    @r.post("/api/datasets", status_code=201, response_model=Dataset, openapi_extra=_MULTIPART_DOC)
    async def upload_dataset(request: Request, gw: GatewayDep) -> Dataset:
        upload = await _receive_csv(request, gw)
        try:
            target = upload.fields.get("target") or None
            row = await _run(
                gw, lambda s: datasets.register(s, gw.store, upload.path, upload.filename, target)
            )
        finally:
            upload.path.unlink(missing_ok=True)  # gone already if it was kept
        gw.hub.broadcast(
            "activity",
            {"kind": "dataset", "message": f"'{row.name}' was uploaded.", "ref_id": row.id},
        )
        return Dataset.of(row)

    @r.get("/api/datasets", response_model=DatasetList)
    async def list_datasets(gw: GatewayDep) -> DatasetList:
        return DatasetList(
            items=await _run(gw, lambda s: [Dataset.of(d) for d in datasets.list_all(s)])
        )

    @r.get("/api/datasets/{dataset_id}", response_model=Dataset)
    async def get_dataset(dataset_id: str, gw: GatewayDep) -> Dataset:
        return await _run(gw, lambda s: Dataset.of(datasets.get(s, dataset_id)))

    @r.delete("/api/datasets/{dataset_id}", status_code=204)
    async def delete_dataset(dataset_id: str, gw: GatewayDep) -> Response:
        await _run(gw, lambda s: datasets.delete(s, gw.store, dataset_id))
        return Response(status_code=204)

    @r.get("/api/datasets/{dataset_id}/preview", response_model=Preview)
    async def preview_dataset(
        dataset_id: str, gw: GatewayDep, rows: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> Any:
        return await _run(gw, lambda s: datasets.preview(s, gw.store, dataset_id, rows))

    @r.post("/api/jobs", status_code=202, response_model=Job)
    async def create_job(body: JobRequest, gw: GatewayDep) -> Job:
        def work(s: Session) -> Job:
            defaults = user_settings.load(s, gw.settings.default_time_budget_s)
            return Job.of(jobs.create(s, gw.store, body, defaults))

        return await _run(gw, work)

    @r.get("/api/jobs", response_model=JobList)
    async def list_jobs(gw: GatewayDep) -> JobList:
        return JobList(items=await _run(gw, lambda s: [Job.of(j) for j in jobs.list_all(s)]))

    @r.get("/api/jobs/{job_id}", response_model=Job)
    async def get_job(job_id: str, gw: GatewayDep) -> Job:
        return await _run(gw, lambda s: Job.of(jobs.get(s, job_id)))

    @r.post("/api/jobs/{job_id}/cancel", response_model=Job)
    async def cancel_job(job_id: str, gw: GatewayDep) -> Job:
        job = await _run(gw, lambda s: Job.of(jobs.cancel(s, job_id)))
        gw.hub.broadcast("job", job)
        return job

    @r.get("/api/models", response_model=ModelList)
    async def list_models(gw: GatewayDep) -> ModelList:
        return ModelList(items=await _run(gw, lambda s: [Model.of(m) for m in models.list_all(s)]))

    @r.get("/api/models/{model_id}", response_model=Model)
    async def get_model(model_id: str, gw: GatewayDep) -> Model:
        return await _run(gw, lambda s: Model.of(models.get(s, model_id)))

    @r.post("/api/models/{model_id}/deploy", response_model=Deployment)
    async def deploy_model(model_id: str, gw: GatewayDep) -> Deployment:
        row = await _run(gw, lambda s: models.deploy(s, gw.store, model_id))
        return Deployment(model_id=row.id, deployed_at=row.deployed_at)  # type: ignore[arg-type]

    @r.get("/api/models/{model_id}/download", response_class=FileResponse)
    async def download_model(model_id: str, gw: GatewayDep) -> FileResponse:
        row = await _run(gw, lambda s: models.get(s, model_id))
        path = gw.store.path(row.path)
        if not path.exists():
            raise AppError("This model's file is missing.", code="model_file_missing", status=404)
        return FileResponse(
            path, media_type="application/octet-stream", filename=f"model-{row.id}.joblib"
        )

    @r.post("/api/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest, gw: GatewayDep) -> Any:
        row = await _run(gw, lambda s: models.resolve_for_prediction(s, body.model_id))
        return await gw.predictor.predict({"rows": body.rows, "model_id": row.id})

    @r.post(
        "/api/predict/csv",
        response_class=Response,
        openapi_extra=_MULTIPART_DOC,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def predict_csv(
        request: Request, gw: GatewayDep, model_id: str | None = None
    ) -> Response:
        row = await _run(gw, lambda s: models.resolve_for_prediction(s, model_id))
        upload = await _receive_csv(request, gw)
        try:
            content = await asyncio.to_thread(upload.path.read_bytes)
        finally:
            upload.path.unlink(missing_ok=True)
        scored = await gw.predictor.predict_csv(row.id, upload.filename, content)
        stem = Path(upload.filename).stem or "data"
        headers = {"Content-Disposition": f'attachment; filename="{stem}-predictions.csv"'}
        return Response(scored, media_type="text/csv", headers=headers)

    @r.get("/api/settings", response_model=UserSettings)
    async def get_settings(gw: GatewayDep) -> UserSettings:
        return await _run(gw, lambda s: user_settings.load(s, gw.settings.default_time_budget_s))

    @r.put("/api/settings", response_model=UserSettings)
    async def put_settings(body: UserSettings, gw: GatewayDep) -> UserSettings:
        return await _run(gw, lambda s: user_settings.save(s, body))

    @r.get("/api/activity", response_model=ActivityList)
    async def get_activity(gw: GatewayDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
        rows = await _run(gw, lambda s: activity.recent(s, limit))
        return {
            "items": [
                {c: getattr(a, c) for c in ("id", "kind", "message", "ref_id", "created_at")}
                for a in rows
            ]
        }

    @r.get("/api/system", include_in_schema=True)
    async def system(gw: GatewayDep) -> dict[str, Any]:
        """The latest machine sample, recent history and live service counts (for Monitoring)."""
        return {
            "metrics": gw.consumers.latest_metrics,
            "history": list(gw.consumers.metrics_history),
            "instances": {
                name: gw.board.instances(name) for name in ("trainer", "predictor", "metrics")
            },
            "websocket_clients": gw.hub.client_count,
        }

    @r.get("/health", response_model=Health)
    async def health(gw: GatewayDep) -> JSONResponse:
        answer = await gw.health()
        return JSONResponse(
            answer.model_dump(), status_code=503 if answer.status == "down" else 200
        )

    @r.websocket("/ws")
    async def live(socket: WebSocket) -> None:
        gw: Gateway = socket.app.state.gateway
        greeting = [message("health", await gw.health())]
        if gw.consumers.latest_metrics:
            greeting.append(message("metrics", gw.consumers.latest_metrics))
        await gw.hub.serve(socket, greeting)

    return r


def build_app(gateway: Gateway, frontend: Path) -> FastAPI:
    app = FastAPI(
        title="No-code ML dashboard API",
        version="1.0.0",
        description="Upload a CSV, train a model, switch it on, and ask it for predictions.",
    )
    app.state.gateway = gateway
    install_common(app, "gateway")
    app.include_router(_routes())
    if frontend.is_dir():
        app.mount("/static", StaticFiles(directory=frontend), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(frontend / "index.html")

    return app
