"""The predictor's HTTP entry point: thin translators from requests to the registry's runtimes.

`POST /predict` answers the same body as the gateway's `POST /api/predict` (shared/API.md);
errors are raised as AppError and turned into JSON once, by the app's common handlers.
Predictions go through `Admission`: beyond a bounded queue they are refused with 503 `busy`.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from services.common.admission import Admission
from services.common.model_report import ModelSignature
from services.common.prediction import PredictRequest, PredictResponse
from services.predictor.answers import charset_of
from services.predictor.registry import ModelRegistry

PREDICTIONS = Counter("mlops_predictions_total", "Rows predicted", ["kind"])
PREDICT_SECONDS = Histogram(
    "mlops_predict_seconds", "Time to answer a prediction request", ["kind"]
)


class ModelStatus(BaseModel):
    """A model as this predictor holds it: whether it answers now, and what it needs."""

    model_id: str
    ready: bool
    signature: ModelSignature | None
    """None while the model is not ready."""


def routes(registry: ModelRegistry, admission: Admission | None = None) -> APIRouter:
    """The predictor's routes; `admission` bounds the predictions under way (default: 4
    running and 32 waiting, the settings' defaults)."""
    gate = admission or Admission()
    router = APIRouter()

    @router.post("/predict")
    async def predict(request: PredictRequest) -> PredictResponse:
        started = time.perf_counter()
        async with gate.turn():
            runtime = await registry.get(request.model_id)
            answer = await runtime.predict(request)
        _measure("rows", len(answer.predictions), started)
        return answer

    @router.post("/predict/csv")
    async def predict_csv(file: UploadFile = File(...), model_id: str | None = None) -> Response:
        started = time.perf_counter()
        async with gate.turn():
            content = await file.read()
            scored = await (await registry.get(model_id)).predict_csv(content)
        _measure("csv", 1, started)
        return Response(scored, media_type=f"text/csv; charset={charset_of(content, scored)}")

    @router.get("/models/{model_id}")
    async def model(model_id: str) -> ModelStatus:
        """Loads the model if needed (404 `model_not_found` when there is no such model), so
        asking is also a way to warm a model up before its first prediction."""
        runtime = await registry.get(model_id)
        signature = runtime.signature if runtime.ready else None
        return ModelStatus(model_id=model_id, ready=runtime.ready, signature=signature)

    return router


def _measure(kind: str, count: int, started: float) -> None:
    PREDICTIONS.labels(kind).inc(count)
    PREDICT_SECONDS.labels(kind).observe(time.perf_counter() - started)
