"""The gateway's way to the predictor: HTTP in distributed mode, in-process in single-process
mode (the CLI hands over an httpx client bound to the predictor's app). Errors the predictor
answered with are passed on unchanged, with their Retry-After.

Replicas cover for each other. MLOPS_PREDICTOR_URL may list several predictors, comma
separated: requests take them in turn, and one that cannot be reached (refused, reset, cut
mid-answer, 502 or 504) is tried only as a last resort for a cool-down while the request
goes on to the next. A 503 goes to the next replica too, though a `busy` one only once: when
the replicas shed load, the caller hears so at once. Predictions and CSV scoring change
nothing, so trying them again is safe; every try of one request shares one deadline, and with
fewer replicas than tries the list starts over. In Kubernetes, one Service URL balances the
replicas by itself: give it alone, and each try goes through the Service again."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from itertools import cycle, islice
from typing import Any
from urllib.parse import quote

import httpx

from services.common.errors import AppError, Unavailable
from services.common.model_report import ModelSignature
from services.common.prediction import PredictRequest, PredictResponse
from services.gateway.settings import GatewaySettings

_UNREACHABLE = "The prediction service is not answering right now. Please try again in a moment."
_CONNECT_TIMEOUT_S = 3.0
"""A replica that does not even accept the connection in this time is taken as down."""
# Failures after which the request may go to another replica: the replica is down or went away.
_GONE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.NetworkError)
_GONE_MID_ANSWER = (httpx.RemoteProtocolError,)


class Answered(AppError):
    """An error the predictor answered with, passed on as it was (headers included)."""

    def __init__(self, detail: str, code: str, status: int, headers: dict[str, str]) -> None:
        super().__init__(detail, code=code, status=status)
        self.headers = headers


def replica_urls(setting: str) -> list[str]:
    """The base URLs in MLOPS_PREDICTOR_URL (one, or several separated by commas)."""
    urls = [url.strip().rstrip("/") for url in setting.split(",") if url.strip()]
    if not urls:
        raise ValueError("MLOPS_PREDICTOR_URL names no predictor")
    return urls


class Replicas:
    """The predictors' base URLs in turn, with those that failed lately put last."""

    def __init__(
        self, urls: Sequence[str], cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._urls, self._cooldown_s, self._clock = list(urls), cooldown_s, clock
        self._failed_at: dict[str, float] = {}
        self._turn = 0

    def order(self) -> list[str]:
        """Every replica, once, starting from the next in turn; cooling ones at the end."""
        start, self._turn = self._turn, (self._turn + 1) % len(self._urls)
        turned = self._urls[start:] + self._urls[:start]
        now = self._clock()
        cooling = {u for u in turned if now - self._failed_at.get(u, -math.inf) < self._cooldown_s}
        return [u for u in turned if u not in cooling] + [u for u in turned if u in cooling]

    def failed(self, url: str) -> None:
        self._failed_at[url] = self._clock()

    def answered(self, url: str) -> None:
        self._failed_at.pop(url, None)


class PredictorClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        urls: Sequence[str] = ("",),
        *,
        timeout_s: float = 120.0,
        attempts: int = 3,
        cooldown_s: float = 5.0,
    ) -> None:
        """`urls` are the replicas' base URLs; the default, "", is `http`'s own base URL."""
        self._http, self._replicas = http, Replicas(urls, cooldown_s)
        self._timeout_s, self._attempts = timeout_s, attempts

    @classmethod
    def of(
        cls, settings: GatewaySettings, in_process: httpx.AsyncClient | None = None
    ) -> PredictorClient:
        """The client the settings describe; `in_process` reaches the predictor's app
        directly (mlops all) instead of the replicas in MLOPS_PREDICTOR_URL."""
        policy: dict[str, Any] = dict(
            timeout_s=settings.predictor_timeout_s,
            attempts=settings.predictor_attempts,
            cooldown_s=settings.predictor_cooldown_s,
        )
        if in_process is not None:
            return cls(in_process, **policy)
        return cls(httpx.AsyncClient(), replica_urls(settings.predictor_url), **policy)

    async def close(self) -> None:
        await self._http.aclose()

    async def predict(self, request: PredictRequest) -> PredictResponse:
        response = await self._send("POST", "/predict", json=request.model_dump(mode="json"))
        return PredictResponse.model_validate_json(response.content)

    async def predict_csv(
        self, model_id: str | None, filename: str, content: bytes
    ) -> tuple[bytes, str]:
        """The scored file and its media type (it names the file's own charset); `model_id`
        None: the predictor's default model."""
        files = {"file": (filename or "data.csv", content, "text/csv")}
        params = {"model_id": model_id} if model_id else {}
        response = await self._send("POST", "/predict/csv", params=params, files=files)
        return response.content, response.headers.get("content-type", "text/csv")

    async def load(self, model_id: str) -> ModelSignature:
        """Have a predictor load `model_id` and answer what it needs (404 `model_not_found`,
        409 `model_untrusted` and the like passed on); loading changes nothing one can see,
        so it is tried on another replica like a prediction. The other replicas load the
        model when they hear it was deployed."""
        response = await self._send("GET", f"/models/{quote(model_id, safe='')}")
        signature = response.json().get("signature")
        if signature is None:
            raise Unavailable(
                "That model is being switched over. Please try again in a moment.",
                code="model_not_ready",
            )
        return ModelSignature.model_validate(signature)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, tried on up to `attempts` replicas within `timeout_s` in all."""
        deadline = time.monotonic() + self._timeout_s
        failure: AppError = Unavailable(_UNREACHABLE, code="predictor_unavailable")
        busy_seen = False
        for url in islice(cycle(self._replicas.order()), self._attempts):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            timeout = httpx.Timeout(left, connect=min(left, _CONNECT_TIMEOUT_S))
            try:
                response = await self._http.request(method, url + path, timeout=timeout, **kwargs)
            except (*_GONE, *_GONE_MID_ANSWER):
                self._replicas.failed(url)  # down, or went away mid-answer: try the next
                continue
            except httpx.HTTPError as exc:  # out of time, or a request that cannot be sent
                raise failure from exc
            if response.status_code < 400:
                self._replicas.answered(url)
                return response
            failure = _passed_on(response)
            if response.status_code in (502, 504):
                self._replicas.failed(url)
            elif response.status_code != 503 or (failure.code == "busy" and busy_seen):
                raise failure
            busy_seen = busy_seen or failure.code == "busy"
        raise failure


def _passed_on(response: httpx.Response) -> AppError:
    """The predictor's JSON error as the gateway's own; anything else (a proxy's HTML page)
    means the predictor is not answering."""
    try:
        error = response.json()
        detail, code = str(error["detail"]), str(error["code"])
    except (ValueError, KeyError, TypeError):
        return Unavailable(_UNREACHABLE, code="predictor_unavailable")
    headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
    return Answered(detail, code, response.status_code, headers)
