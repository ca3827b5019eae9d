"""Routes for models and predictions: read, switch on, download, predict."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from services.common.errors import AppError
from services.gateway.entrypoints.deps import MULTIPART_DOC, GatewayDep, receive_csv, run
from services.gateway.handlers import models
from services.gateway.schemas import Deployment, Model, ModelList, PredictRequest, PredictResponse

router = APIRouter()


@router.get("/api/models", response_model=ModelList)
async def list_models(gw: GatewayDep) -> ModelList:
    return ModelList(items=await run(gw, lambda s: [Model.of(m) for m in models.list_all(s)]))


@router.get("/api/models/{model_id}", response_model=Model)
async def get_model(model_id: str, gw: GatewayDep) -> Model:
    return await run(gw, lambda s: Model.of(models.get(s, model_id)))


@router.post("/api/models/{model_id}/deploy", response_model=Deployment)
async def deploy_model(model_id: str, gw: GatewayDep) -> Deployment:
    row = await run(gw, lambda s: models.deploy(s, gw.store, model_id))
    return Deployment(model_id=row.id, deployed_at=row.deployed_at)  # type: ignore[arg-type]


@router.get("/api/models/{model_id}/download", response_class=FileResponse)
async def download_model(model_id: str, gw: GatewayDep) -> FileResponse:
    row = await run(gw, lambda s: models.get(s, model_id))
    path = gw.store.path(row.path)
    if not path.exists():
        raise AppError("This model's file is missing.", code="model_file_missing", status=404)
    return FileResponse(
        path, media_type="application/octet-stream", filename=f"model-{row.id}.joblib"
    )


@router.post("/api/predict", response_model=PredictResponse)
async def predict(body: PredictRequest, gw: GatewayDep) -> Any:
    row = await run(gw, lambda s: models.resolve_for_prediction(s, body.model_id))
    return await gw.predictor.predict({"rows": body.rows, "model_id": row.id})


@router.post(
    "/api/predict/csv",
    response_class=Response,
    openapi_extra=MULTIPART_DOC,
    responses={200: {"content": {"text/csv": {}}}},
)
async def predict_csv(request: Request, gw: GatewayDep, model_id: str | None = None) -> Response:
    row = await run(gw, lambda s: models.resolve_for_prediction(s, model_id))
    upload = await receive_csv(request, gw)
    try:
        content = await asyncio.to_thread(upload.path.read_bytes)
    finally:
        upload.path.unlink(missing_ok=True)
    scored = await gw.predictor.predict_csv(row.id, upload.filename, content)
    stem = Path(upload.filename).stem or "data"
    headers = {"Content-Disposition": f'attachment; filename="{stem}-predictions.csv"'}
    return Response(scored, media_type="text/csv", headers=headers)
