"""Wires the predictor: an HTTP /predict that answers from deployed models, and a subscription
to `model.deployed` so every replica swaps to the new model."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI, File, UploadFile
from fastapi.responses import Response
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field

from services.common.bus import Bus
from services.common.events import ModelDeployed
from services.common.heartbeat import Heartbeat
from services.common.settings import Settings
from services.common.storage import FileStore
from services.common.web import install_common
from services.predictor.answers import score_csv
from services.predictor.registry import ModelRegistry

PREDICTIONS = Counter("mlops_predictions_total", "Rows predicted", ["kind"])
PREDICT_SECONDS = Histogram(
    "mlops_predict_seconds", "Time to answer a prediction request", ["kind"]
)


class PredictBody(BaseModel):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    model_id: str | None = None


class PredictorService:
    def __init__(self, settings: Settings, bus: Bus, store: FileStore):
        self.bus = bus
        self.registry = ModelRegistry(store)
        self.heartbeat = Heartbeat(bus, "predictor", settings.heartbeat_interval_s, self._details)
        self.app = _app(self)

    def _details(self) -> dict[str, object]:
        return {"default_model": self.registry.default_id, "loaded": len(self.registry.loaded)}

    async def start(self) -> None:
        await self.registry.restore()
        await self.bus.consume_broadcast([ModelDeployed.type], self._on_deployed)
        await self.heartbeat.start()

    async def stop(self) -> None:
        await self.heartbeat.stop()

    async def _on_deployed(self, event: ModelDeployed) -> None:
        await self.registry.deploy(event.model_id)

    async def predict(self, body: PredictBody) -> dict[str, Any]:
        started = time.perf_counter()
        model_id, bundle = await self.registry.get(body.model_id)
        answers = await asyncio.to_thread(bundle.answer, body.rows)
        PREDICTIONS.labels("rows").inc(len(answers.predictions))
        PREDICT_SECONDS.labels("rows").observe(time.perf_counter() - started)
        return {
            "model_id": model_id,
            "predictions": answers.predictions,
            "probabilities": answers.probabilities,
            "confidence": answers.confidence,
            "unusual": answers.unusual_flags(),
        }

    async def predict_csv(self, content: bytes, model_id: str | None) -> bytes:
        started = time.perf_counter()
        _, bundle = await self.registry.get(model_id)
        scored = await asyncio.to_thread(score_csv, bundle, content)
        PREDICTIONS.labels("csv").inc()
        PREDICT_SECONDS.labels("csv").observe(time.perf_counter() - started)
        return scored


def _app(service: PredictorService) -> FastAPI:
    app = FastAPI(title="predictor", docs_url=None, redoc_url=None)
    install_common(app, "predictor")

    @app.post("/predict")
    async def predict(body: PredictBody) -> dict[str, Any]:
        return await service.predict(body)

    @app.post("/predict/csv")
    async def predict_csv(file: UploadFile = File(...), model_id: str | None = None) -> Response:
        scored = await service.predict_csv(await file.read(), model_id)
        return Response(scored, media_type="text/csv")

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok" if service.bus.connected else "degraded", **service._details()}

    return app


def bootstrap(settings: Settings, bus: Bus, store: FileStore) -> PredictorService:
    return PredictorService(settings, bus, store)
