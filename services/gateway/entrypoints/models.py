"""Routes for models and predictions: read, switch on, download, predict."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from services.common.errors import AppError, Conflict, Unavailable
from services.common.http_names import attachment
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.schemas import (
    Deployment,
    Model,
    ModelList,
    PredictRequest,
    PredictResponse,
)
from services.gateway.entrypoints.deps import (
    MULTIPART_DOC,
    AdmissionDep,
    PredictorDep,
    SettingsDep,
    StoreDep,
    SwitchedOnDep,
    UowDep,
    receive_csv,
)
from services.gateway.handlers import models
from services.gateway.handlers.models import SwitchedOn

router = APIRouter()


@router.get("/api/models", response_model=ModelList)
async def list_models(uow: UowDep) -> ModelList:
    return ModelList(items=await uow.run(lambda s: [Model.of(m) for m in models.list_all(s)]))


@router.get("/api/models/{model_id}", response_model=Model)
async def get_model(model_id: str, uow: UowDep) -> Model:
    return await uow.run(lambda s: Model.of(models.get(s, model_id)))


@router.post("/api/models/{model_id}/deploy", response_model=Deployment)
async def deploy_model(
    model_id: str, uow: UowDep, store: StoreDep, predictor: PredictorDep, switched_on: SwitchedOnDep
) -> Deployment:
    """200 only once a predictor has loaded the model: one that cannot be loaded is refused
    (409) and the model switched on before keeps answering."""
    await uow.run(lambda s: models.check_deployable(s, store, model_id))
    try:
        await predictor.load(model_id)
    except AppError as exc:
        if exc.status >= 500:
            raise  # the predictor is away: try again later
        raise Conflict(
            f"This model could not be switched on: {exc.detail} "
            "The model that was switched on before keeps answering.",
            code="model_not_loadable",
        ) from exc
    deployment = await uow.run(lambda s: models.deploy(s, store, model_id))
    switched_on.saw(model_id)
    return deployment


@router.get("/api/models/{model_id}/download", response_class=FileResponse)
async def download_model(model_id: str, uow: UowDep, store: StoreDep) -> FileResponse:
    row = await uow.run(lambda s: models.get(s, model_id))
    path = store.path(row.path)
    if not path.exists():
        raise AppError("This model's file is missing.", code="model_file_missing", status=404)
    headers = {"Content-Disposition": attachment(f"model-{row.id}.joblib")}
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


async def _model_for_prediction(
    model_id: str | None, uow: UnitOfWork, switched_on: SwitchedOn
) -> str | None:
    """The model to predict with; while the database is away, the one this replica last saw
    switched on (None: the predictor's default), so predictions go on."""
    if switched_on.skip_database:
        return switched_on.while_database_away(model_id)
    try:
        row = await uow.run(lambda s: models.resolve_for_prediction(s, model_id))
    except Unavailable:
        switched_on.database_away()
        return switched_on.while_database_away(model_id)
    switched_on.saw(row.id)
    return row.id


@router.post("/api/predict", response_model=PredictResponse)
async def predict(
    body: PredictRequest,
    uow: UowDep,
    predictor: PredictorDep,
    switched_on: SwitchedOnDep,
    admission: AdmissionDep,
) -> PredictResponse:
    async with admission.turn():  # refused here, before any work, when too many wait
        model_id = await _model_for_prediction(body.model_id, uow, switched_on)
        return await predictor.predict(body.model_copy(update={"model_id": model_id}))


@router.post(
    "/api/predict/csv",
    response_class=Response,
    openapi_extra=MULTIPART_DOC,
    responses={200: {"content": {"text/csv": {}}}},
)
async def predict_csv(
    request: Request,
    uow: UowDep,
    store: StoreDep,
    settings: SettingsDep,
    predictor: PredictorDep,
    switched_on: SwitchedOnDep,
    admission: AdmissionDep,
    model_id: str | None = None,
) -> Response:
    chosen = await _model_for_prediction(model_id, uow, switched_on)
    upload = await receive_csv(request, settings, store)
    try:
        content = await asyncio.to_thread(upload.path.read_bytes)
    finally:
        upload.path.unlink(missing_ok=True)
    async with admission.turn():  # the upload is in: its scoring waits its turn, or is refused
        scored, media_type = await predictor.predict_csv(chosen, upload.filename, content)
    stem = Path(upload.filename).stem or "data"
    headers = {"Content-Disposition": attachment(f"{stem}-predictions.csv")}
    return Response(scored, media_type=media_type, headers=headers)
