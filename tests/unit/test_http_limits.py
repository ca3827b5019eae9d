"""The HTTP edges under hostile or heavy use: bodies limited in size and time while they arrive,
predictions shedding load with 503 `busy` and a Retry-After, scored CSVs without formulas, any
file name in a download's header, and predictor replicas covering for each other."""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any
from urllib.parse import unquote

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import Request
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from services.common.admission import Admission, Busy
from services.common.data.bundle import ModelBundle, prepare_frame
from services.common.data.describe import describe_features
from services.common.errors import AppError
from services.common.http_names import attachment
from services.common.limits import BodyLimits, LimitBodies
from services.common.prediction import PredictRequest, PredictResponse
from services.common.web import ServiceHealth, service_app
from services.gateway.adapters.predictor_client import PredictorClient, Replicas
from services.predictor.answers import charset_of, defuse, score_csv
from services.predictor.http import routes
from tests.support import eventually

# --- bodies: size and time -----------------------------------------------------------------


class Client:
    """One request through the middleware, its body sent as the test says, its answer kept."""

    def __init__(
        self, chunks: list[bytes], *, hang: bool = False, pause_before_last: float = 0
    ) -> None:
        self.chunks, self.hang, self.sent = list(chunks), hang, 0
        self.pause_before_last = pause_before_last
        self.messages: list[Message] = []

    async def receive(self) -> Message:
        if self.chunks:
            if len(self.chunks) == 1 and self.pause_before_last:
                await asyncio.sleep(self.pause_before_last)
            chunk = self.chunks.pop(0)
            self.sent += len(chunk)
            more = bool(self.chunks) or self.hang
            return {"type": "http.request", "body": chunk, "more_body": more}
        await asyncio.Event().wait()  # a client that never sends the rest
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.messages[1:]))


class EchoApp:
    """Reads the whole body (as FastAPI does for JSON) and answers its length."""

    def __init__(self) -> None:
        self.called = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called += 1
        body = await Request(scope, receive).body()
        await Response(str(len(body)))(scope, receive, send)


def scope(content_type: str = "application/json", length: int | None = None) -> Scope:
    headers = [(b"content-type", content_type.encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": "POST", "path": "/predict", "headers": headers}


LIMITS = BodyLimits(max_bytes=1000, timeout_s=0.2, min_bytes_per_s=10**9)


async def call(app: Any, client: Client, request: Scope, limits: BodyLimits = LIMITS) -> None:
    await LimitBodies(app, limits)(request, client.receive, client.send)


async def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    app, client = EchoApp(), Client([b"x" * 400, b"y" * 400])
    await call(app, client, scope())
    assert (client.status, client.messages[1]["body"]) == (200, b"800")


async def test_a_declared_length_past_the_limit_is_refused_before_reading() -> None:
    app, client = EchoApp(), Client([b"x" * 1000] * 3)  # what the client would go on sending
    await call(app, client, scope(length=200 * 1024 * 1024))
    assert (client.status, client.json["code"], client.sent, app.called) == (413, "too_large", 0, 0)
    assert client.headers[b"connection"] == b"close"  # nothing more of it is read
    assert "limit" in client.json["detail"]


async def test_a_chunked_body_is_refused_once_past_the_limit() -> None:
    app, client = EchoApp(), Client([b"x" * 300] * 1000)  # 300 kB, no Content-Length
    await call(app, client, scope())
    assert (client.status, client.json["code"], app.called) == (413, "too_large", 0)
    assert client.sent <= 1000 + 300  # the limit and one chunk, never the whole body


async def test_a_body_that_stops_arriving_is_answered_408() -> None:
    app, client = EchoApp(), Client([b"{"], hang=True)
    await call(app, client, scope())
    assert (client.status, client.json["code"], app.called) == (408, "too_slow", 0)


async def test_a_slow_upload_is_answered_408_whatever_the_app_made_of_it() -> None:
    """A multipart body streams to the app; the refusal raised while it reads wins over the
    answer the app gives (FastAPI turns an error while parsing a form into its own 400)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Request(scope, receive).body()
        except Exception:
            await Response("could not parse the body", status_code=400)(scope, receive, send)

    client = Client([b"--b\r\n"], hang=True)
    await call(app, client, scope("multipart/form-data; boundary=b"))
    assert (client.status, client.json["code"]) == (408, "too_slow")


async def test_an_upload_is_left_to_its_own_size_limit() -> None:
    app, client = EchoApp(), Client([b"x" * 800] * 5)
    await call(app, client, scope("multipart/form-data; boundary=b"))
    assert (client.status, client.messages[1]["body"]) == (200, b"4000")


async def test_the_time_a_body_may_take_grows_with_what_has_arrived() -> None:
    """The mod_reqtimeout rule: a second more per `min_bytes_per_s` received, so a large
    upload on a slow link keeps going while a trickle does not."""
    for min_rate, status in ((100, 200), (10**9, 408)):
        limits = BodyLimits(max_bytes=10**6, timeout_s=0.2, min_bytes_per_s=min_rate)
        client = Client([b"x" * 1000, b"x"], pause_before_last=0.5)  # 0.2 s + 10 s, or 0.2 s
        await call(EchoApp(), client, scope("multipart/form-data; boundary=b"), limits)
        assert client.status == status


# --- predictions shed load -----------------------------------------------------------------


class SlowRuntime:
    """A model whose predictions wait until the test lets them finish."""

    def __init__(self, done: asyncio.Event) -> None:
        self.done, self.started = done, 0

    async def predict(self, request: PredictRequest) -> PredictResponse:
        self.started += 1
        await self.done.wait()
        return PredictResponse(model_id="m", predictions=[1])


class OneModel:
    def __init__(self, runtime: SlowRuntime) -> None:
        self.runtime = runtime

    async def get(self, model_id: str | None) -> SlowRuntime:
        return self.runtime


async def test_predictions_past_the_bounded_queue_are_refused_at_once() -> None:
    done = asyncio.Event()
    runtime = SlowRuntime(done)

    async def health() -> ServiceHealth:
        return ServiceHealth(status="ok")

    app, admission = service_app("predictor", health), Admission(running=1, waiting=2)
    app.include_router(routes(OneModel(runtime), admission))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://p") as http:
        body = {"rows": [{"age": 1}]}
        queued = [asyncio.create_task(http.post("/predict", json=body)) for _ in range(3)]
        await eventually(lambda: admission.inside == 3)  # one running, two waiting: full
        shed = await http.post("/predict", json=body)
        assert shed.status_code == 503
        assert shed.json()["code"] == "busy" and shed.headers["Retry-After"] == "1"
        assert (await http.get("/health")).status_code == 200  # other routes still answer
        done.set()
        assert [r.status_code for r in await asyncio.gather(*queued)] == [200, 200, 200]
        assert (await http.post("/predict", json=body)).status_code == 200  # room again


async def test_a_turn_given_back_on_failure_leaves_room() -> None:
    admission = Admission(running=1, waiting=0)
    with pytest.raises(ValueError):
        async with admission.turn():
            raise ValueError("the prediction failed")
    assert admission.inside == 0
    async with admission.turn():
        with pytest.raises(Busy):
            async with admission.turn():
                pass


async def test_the_queue_is_bounded_in_time_too() -> None:
    """Room in the queue is not enough: a request that would wait longer than max_wait_s for
    its turn (judged by how long turns take) is refused at once, told when to come back."""
    admission = Admission(running=1, waiting=100, max_wait_s=0.5)
    async with admission.turn():
        await asyncio.sleep(0.3)  # turns take about 0.3 s
    release = asyncio.Event()

    async def hold() -> None:
        async with admission.turn():
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]  # one running, one waiting
    await asyncio.sleep(0.05)
    assert admission.expected_wait_s() > 0.5
    with pytest.raises(Busy) as refused:
        async with admission.turn():
            pass
    assert refused.value.headers == {"Retry-After": "1"}
    release.set()
    await asyncio.gather(*holders)
    async with admission.turn():  # the queue drained: room again
        pass


# --- scored CSVs: no formulas, the file's own format -----------------------------------------


@pytest.mark.parametrize(
    ("cell", "kept"),
    [
        ("=cmd|' /C calc'!A0", False),
        ("+1+2", False),
        ("-2+3", False),
        ("@SUM(A1)", False),
        ("\t=1", False),
        ("\r=1", False),
        ("-5", True),
        ("+3.2", True),
        ("-0,5", True),
        ("1e-3", True),
        ("plain", True),
        ("a=b", True),
    ],
)
def test_formula_cells_are_made_text_but_numbers_stay(cell: str, kept: bool) -> None:
    assert defuse(cell) == (cell if kept else "'" + cell)


def tiny_model() -> ModelBundle:
    df = pd.DataFrame({"age": np.arange(18, 90)})
    features = describe_features(df, {"age": "numeric"})
    pipeline = make_pipeline(LogisticRegression()).fit(
        prepare_frame(df, features, strict=False), np.where(df["age"] > 50, "=yes", "no")
    )
    return ModelBundle(pipeline, "classification", "churn", features, ["=yes", "no"])


def test_a_scored_csv_neutralises_formulas_in_every_column() -> None:
    source = b'age,note,=evil\n70,=HYPERLINK("http://x"),-5\n20,-1+1,@A1\n'
    scored = pd.read_csv(io.BytesIO(score_csv(tiny_model(), source)), dtype=str)
    assert list(scored.columns[:3]) == ["age", "note", "'=evil"]
    assert scored["note"].tolist() == ['\'=HYPERLINK("http://x")', "'-1+1"]
    assert scored["'=evil"].tolist() == ["-5", "'@A1"]
    assert scored["prediction"].tolist() == ["'=yes", "no"]  # the answers too
    assert scored["age"].tolist() == ["70", "20"]


def test_a_scored_csv_keeps_the_files_separator_decimal_mark_and_encoding() -> None:
    source = "age;größe;note\n70;1,5;café\n20;2,5;thé\n".encode("cp1252")
    scored = score_csv(tiny_model(), source)
    text = scored.decode("cp1252")
    header, first = text.splitlines()[:2]
    assert header.startswith("age;größe;note;prediction;confidence")
    assert first.startswith("70;1,5;café;'=yes;")
    assert "," in first.split(";")[4] and "." not in first  # confidence with a decimal comma
    assert charset_of(source, scored) == "windows-1252"  # named in the answer's Content-Type
    assert charset_of(b"age\n70\n", score_csv(tiny_model(), b"age\n70\n")) == "utf-8"


# --- file names in headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "données_日本-predictions.csv",
        'say "hi"\r\nSet-Cookie: x=1.csv',
        "../../etc/passwd",
        "C:\\Users\\me\\sales.csv",
        "\u202etxt.exe",
        "",
    ],
)
def test_any_file_name_makes_a_valid_content_disposition(name: str) -> None:
    header = attachment(name)
    header.encode("latin-1")  # a header must be Latin-1 text...
    assert "\r" not in header and "\n" not in header  # ...on one line
    Response(b"", headers={"Content-Disposition": header})  # starlette takes it
    quoted = re.fullmatch(r"""attachment; filename="([^"]*)"; filename\*=UTF-8''(\S+)""", header)
    assert quoted, header
    fallback, filename = quoted[1], unquote(quoted[2], errors="strict")  # RFC 5987
    assert fallback.isascii() and '"' not in fallback
    for shown in (fallback, filename):  # a browser prefers filename* (RFC 6266)
        assert shown and "/" not in shown and "\\" not in shown and not shown.startswith(".")
        assert not any(c in shown for c in "\r\n\u202e")
    if name.startswith("données"):
        assert filename == name


# --- replicas cover for each other ------------------------------------------------------------


class Predictors:
    """Fake predictor replicas behind one httpx transport: each answers as the test sets."""

    def __init__(self, **behaviour: str) -> None:
        self.behaviour, self.calls = behaviour, []

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.calls.append(host)
        what = self.behaviour[host]
        if what == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if what == "reset":
            raise httpx.RemoteProtocolError("peer closed the connection", request=request)
        if what == "busy":
            body = {"detail": "Busy.", "code": "busy"}
            return httpx.Response(503, json=body, headers={"Retry-After": "1"})
        if what == "missing":
            return httpx.Response(404, json={"detail": "No such model.", "code": "model_not_found"})
        if request.url.path.startswith("/models/"):
            status = {"model_id": "m", "ready": True, "signature": SIGNATURE}
            return httpx.Response(200, json=status)
        return httpx.Response(200, json={"model_id": "m", "predictions": [host]})


SIGNATURE = {"task": "classification", "target": "churn", "features": [{"name": "age"}]}
REQUEST = PredictRequest(rows=[{"age": 1}])


def client_for(predictors: Predictors, *hosts: str, **policy: Any) -> PredictorClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(predictors.handle))
    return PredictorClient(http, [f"http://{h}:8001" for h in hosts], **policy)


async def test_requests_take_the_replicas_in_turn() -> None:
    predictors = Predictors(a="ok", b="ok")
    client = client_for(predictors, "a", "b")
    answers = [(await client.predict(REQUEST)).predictions[0] for _ in range(4)]
    assert answers == ["a", "b", "a", "b"]


@pytest.mark.parametrize("failure", ["down", "reset"])
async def test_a_replica_that_fails_is_covered_by_the_other(failure: str) -> None:
    predictors = Predictors(a=failure, b="ok")
    client = client_for(predictors, "a", "b")
    answers = [(await client.predict(REQUEST)).predictions[0] for _ in range(3)]
    assert answers == ["b", "b", "b"]
    assert predictors.calls == ["a", "b", "b", "b"]  # then passed over while it cools down
    assert await client.predict_csv("m", "x.csv", b"age\n1\n") is not None


async def test_a_replica_is_tried_again_after_its_cool_down() -> None:
    now = [0.0]
    replicas = Replicas(["a", "b"], cooldown_s=5, clock=lambda: now[0])
    replicas.failed("a")
    assert replicas.order() == ["b", "a"] and replicas.order() == ["b", "a"]
    now[0] = 6
    assert replicas.order() == ["a", "b"]


async def test_when_every_replica_is_down_the_answer_is_a_plain_503() -> None:
    predictors = Predictors(a="down", b="down")
    with pytest.raises(AppError) as error:
        await client_for(predictors, "a", "b", attempts=3).predict(REQUEST)
    assert (error.value.status, error.value.code) == (503, "predictor_unavailable")
    assert len(predictors.calls) == 3  # bounded


async def test_a_busy_replica_hands_over_once_then_busy_is_passed_on() -> None:
    predictors = Predictors(a="busy", b="ok")
    assert (await client_for(predictors, "a", "b").predict(REQUEST)).predictions == ["b"]
    predictors = Predictors(a="busy", b="busy", c="ok")
    with pytest.raises(AppError) as error:
        await client_for(predictors, "a", "b", "c").predict(REQUEST)
    assert (error.value.status, error.value.code) == (503, "busy")
    assert predictors.calls == ["a", "b"]


async def test_busy_and_its_retry_after_reach_the_gateways_caller() -> None:
    predictors = Predictors(a="busy")
    client = client_for(predictors, "a")

    async def health() -> ServiceHealth:
        return ServiceHealth(status="ok")

    gateway = service_app("gateway", health)

    @gateway.post("/api/predict")
    async def predict() -> Any:
        return await client.predict(REQUEST)

    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://g") as http:
        answer = await http.post("/api/predict")
    assert (answer.status_code, answer.json()["code"]) == (503, "busy")
    assert answer.headers["Retry-After"] == "1"


async def test_an_error_about_the_request_is_not_tried_elsewhere() -> None:
    predictors = Predictors(a="missing", b="ok")
    with pytest.raises(AppError) as error:
        await client_for(predictors, "a", "b").load("m")
    assert (error.value.status, error.value.code) == (404, "model_not_found")
    assert predictors.calls == ["a"]


async def test_loading_a_model_answers_its_signature() -> None:
    predictors = Predictors(a="down", b="ok")
    signature = await client_for(predictors, "a", "b").load("a model/with ../odd id")
    assert (signature.task, signature.target) == ("classification", "churn")
