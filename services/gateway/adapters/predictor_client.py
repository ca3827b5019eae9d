"""The gateway's way to the predictor: HTTP in distributed mode, in-process in single-process
mode (the CLI hands over an httpx client bound to the predictor's app). Errors the predictor
answered with are passed on unchanged."""

from __future__ import annotations

from typing import Any

import httpx

from services.common.errors import AppError, Unavailable
from services.common.prediction import PredictRequest, PredictResponse

_UNREACHABLE = "The prediction service is not answering right now. Please try again in a moment."


class PredictorClient:
    def __init__(self, http: httpx.AsyncClient):
        self._http = http

    async def close(self) -> None:
        await self._http.aclose()

    async def predict(self, request: PredictRequest) -> PredictResponse:
        response = await self._send("POST", "/predict", json=request.model_dump(mode="json"))
        return PredictResponse.model_validate_json(response.content)

    async def predict_csv(self, model_id: str, filename: str, content: bytes) -> bytes:
        files = {"file": (filename or "data.csv", content, "text/csv")}
        response = await self._send(
            "POST", "/predict/csv", params={"model_id": model_id}, files=files
        )
        return response.content

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, timeout=120, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(_UNREACHABLE, code="predictor_unavailable") from exc
        if response.status_code >= 400:
            try:
                error = response.json()
                raise AppError(
                    str(error["detail"]), code=str(error["code"]), status=response.status_code
                )
            except (ValueError, KeyError, TypeError):
                raise Unavailable(_UNREACHABLE, code="predictor_unavailable") from None
        return response
