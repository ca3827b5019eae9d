"""Routes for models and predictions: read, switch on, download, predict."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from services.common.errors import AppError
from services.gateway.domain.schemas import (
    Deployment,
    Model,
    ModelList,
    PredictRequest,
    PredictResponse,
)
from services.gateway.entrypoints.deps import (
    MULTIPART_DOC,
    PredictorDep,
    SettingsDep,
    StoreDep,
    UowDep,
    receive_csv,
)
from services.gateway.handlers import models

router = APIRouter()


@router.get("/api/models", response_model=ModelList)
async def list_models(uow: UowDep) -> ModelList:
    return ModelList(items=await uow.run(lambda s: [Model.of(m) for m in models.list_all(s)]))


@router.get("/api/models/{model_id}", response_model=Model)
async def get_model(model_id: str, uow: UowDep) -> Model:
    return await uow.run(lambda s: Model.of(models.get(s, model_id)))


@router.post("/api/models/{model_id}/deploy", response_model=Deployment)
async def deploy_model(model_id: str, uow: UowDep, store: StoreDep) -> Deployment:
    return await uow.run(lambda s: models.deploy(s, store, model_id))


@router.get("/api/models/{model_id}/download", response_class=FileResponse)
async def download_model(model_id: str, uow: UowDep, store: StoreDep) -> FileResponse:
    row = await uow.run(lambda s: models.get(s, model_id))
    path = store.path(row.path)
    if not path.exists():
        raise AppError("This model's file is missing.", code="model_file_missing", status=404)
    return FileResponse(
        path, media_type="application/octet-stream", filename=f"model-{row.id}.joblib"
    )


@router.post("/api/predict", response_model=PredictResponse)
async def predict(body: PredictRequest, uow: UowDep, predictor: PredictorDep) -> PredictResponse:
    row = await uow.run(lambda s: models.resolve_for_prediction(s, body.model_id))
    return await predictor.predict(body.model_copy(update={"model_id": row.id}))


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
    model_id: str | None = None,
) -> Response:
    row = await uow.run(lambda s: models.resolve_for_prediction(s, model_id))
    upload = await receive_csv(request, settings, store)
    try:
        content = await asyncio.to_thread(upload.path.read_bytes)
    finally:
        upload.path.unlink(missing_ok=True)
    scored = await predictor.predict_csv(row.id, upload.filename, content)
    stem = Path(upload.filename).stem or "data"
    headers = {"Content-Disposition": f'attachment; filename="{stem}-predictions.csv"'}
    return Response(scored, media_type="text/csv", headers=headers)
