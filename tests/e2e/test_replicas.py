"""Two real predictor processes behind the gateway's predictor client: when one dies the other
answers every prediction; and the HTTP edges of a real server against slow and oversized
requests (a head or body sent slowly, a huge body), while other clients keep being answered."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.prediction import PredictRequest
from services.common.storage import DEPLOYED_MARKER, FileStore, model_path
from services.gateway.adapters.predictor_client import PredictorClient
from tests.e2e.processes import Service, start
from tests.unit.test_http_limits import tiny_model


@pytest.fixture(scope="module")
def predictors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Service]]:
    """Two predictors sharing one data folder, with a model switched on before they start."""
    root: Path = tmp_path_factory.mktemp("replicas")
    secret = uuid.uuid4().hex
    store = FileStore(root / "shared", secret.encode())
    store.save_model(model_path("m1"), tiny_model())
    store.write_json(DEPLOYED_MARKER, {"model_id": "m1"})
    env = {
        "MLOPS_DATA_DIR": str(root / "shared"),
        "MLOPS_SECRET_KEY": secret,
        "MLOPS_HEAD_TIMEOUT_S": "2",
        "MLOPS_BODY_TIMEOUT_S": "2",
    }
    services = [start("predictor", env, root / "logs") for _ in range(2)]
    try:
        yield services
    finally:
        for service in services:
            service.stop()


REQUEST = PredictRequest(rows=[{"age": 70}, {"age": 20}])


async def test_the_other_replica_answers_when_one_dies(predictors: list[Service]) -> None:
    first, second = predictors
    http = httpx.AsyncClient()
    client = PredictorClient(http, [first.url, second.url], timeout_s=30, cooldown_s=60)
    try:
        for _ in range(4):
            assert (await client.predict(REQUEST)).predictions == ["=yes", "no"]
        scored, media_type = await client.predict_csv("m1", "données_日本.csv", b"age\n70\n")
        assert scored.splitlines()[1].startswith(b"70,'=yes")  # formulas neutralised
        assert media_type == "text/csv; charset=utf-8"
        first.kill()
        answers = [await client.predict(REQUEST) for _ in range(10)]  # none fails
        assert all(a.predictions == ["=yes", "no"] for a in answers)
    finally:
        await client.close()


def _exchange(service: Service, *parts: bytes) -> bytes:
    """Send `parts`, then read the server's answer until it closes the connection."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=60) as sock:
        for part in parts:
            sock.sendall(part)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def test_a_head_that_never_ends_is_closed(predictors: list[Service]) -> None:
    answer = _exchange(predictors[1], b"POST /predict HTTP/1.1\r\nHost: x\r\n")
    assert answer == b""  # closed without a word, within the head deadline (not 60 s)


def test_a_body_that_never_ends_is_answered_408(predictors: list[Service]) -> None:
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    answer = _exchange(predictors[1], head + b"Content-Length: 100\r\n\r\n", b'{"rows": [')
    assert answer.startswith(b"HTTP/1.1 408") and b'"too_slow"' in answer


def test_a_huge_header_line_is_refused(predictors: list[Service]) -> None:
    answer = _exchange(predictors[1], b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 200_000)
    assert answer.startswith(b"HTTP/1.1 431") and b"headers_too_large" in answer


def test_a_huge_json_body_is_refused_while_others_are_answered(
    predictors: list[Service],
) -> None:
    service = predictors[1]
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    answer = _exchange(service, head + b"Content-Length: 209715200\r\n\r\n", b'{"rows": [')
    assert answer.startswith(b"HTTP/1.1 413") and b'"too_large"' in answer

    # Chunked, with no length to judge by: refused once past the limit, never read whole.
    sent = 0
    with socket.create_connection(("127.0.0.1", service.port), timeout=60) as sock:
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        with contextlib.suppress(ConnectionError, TimeoutError):
            while sent < 200 * 1024 * 1024:
                sock.sendall(chunk)
                sent += 65536
                if sent % (1024 * 1024) == 0:
                    assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
        answer = b""
        with contextlib.suppress(ConnectionError):
            while part := sock.recv(65536):
                answer += part
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 200 * 1024 * 1024  # the server stopped reading long before the end
