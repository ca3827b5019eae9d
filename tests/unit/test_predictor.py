"""The predictor's model lifecycle (runtime, registry, HTTP, `model.deployed`) and the shared
service shape it is built on (Lifecycle, service_app), with a tiny real model built here."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from services.common.bus.memory import MemoryBus
from services.common.data.bundle import ModelBundle, prepare_frame
from services.common.data.describe import describe_features
from services.common.errors import AppError
from services.common.events import ModelDeployed
from services.common.lifecycle import Lifecycle, Step
from services.common.prediction import PredictRequest
from services.common.settings import Settings
from services.common.storage import DEPLOYED_MARKER, FileStore, model_path
from services.common.web import ServiceHealth, service_app
from services.predictor.bootstrap import bootstrap
from services.predictor.registry import ModelRegistry
from services.predictor.runtime import ModelRuntime
from tests.support import eventually

ROW = {"age": 70}


def tiny_model() -> ModelBundle:
    df = pd.DataFrame({"age": np.arange(18, 90)})
    features = describe_features(df, {"age": "numeric"})
    X = prepare_frame(df, features, strict=False)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    pipeline.fit(X, np.where(df["age"] > 50, "yes", "no"))
    return ModelBundle(pipeline, "classification", "churn", features, ["no", "yes"])


class GatedStore(FileStore):
    """The real store, counting loads; a load waits while the gate is shut (a slow disk)."""

    def __init__(self, root: Path):
        super().__init__(root, b"x" * 32)
        self.loads: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def load_model(self, relative: str) -> object:
        self.loads.append(relative)
        assert self.gate.wait(10), "the test never opened the gate"
        return super().load_model(relative)


@pytest.fixture
def store(tmp_path: Path) -> GatedStore:
    store = GatedStore(tmp_path)
    model = tiny_model()
    for model_id in ("m1", "m2", "m3"):
        store.save_model(model_path(model_id), model)
    return store


def code_of(error: pytest.ExceptionInfo[AppError]) -> tuple[int, str]:
    return error.value.status, error.value.code


# --- the runtime ---------------------------------------------------------------------------


async def test_a_runtime_loads_answers_and_unloads(store: GatedStore) -> None:
    runtime = ModelRuntime("m1", store)
    assert not runtime.ready
    await runtime.load()
    await runtime.load()  # a second load is a no-op
    assert runtime.ready and store.loads == [model_path("m1")]
    signature = runtime.signature
    assert (signature.task, signature.target, signature.classes) == (
        "classification",
        "churn",
        ["no", "yes"],
    )
    assert [f["name"] for f in signature.features] == ["age"] and "sklearn" in signature.versions

    answer = await runtime.predict(PredictRequest(rows=[ROW, {"age": 20}]))
    assert answer.model_id == "m1" and answer.predictions == ["yes", "no"]
    assert answer.unusual is not None and not answer.unusual[0].unusual
    scored = await runtime.predict_csv(b"age\n70\n")
    assert scored.decode().splitlines()[0] == "age,prediction,confidence,how_sure,unusual"

    await runtime.unload()
    assert not runtime.ready
    with pytest.raises(AppError) as error:
        await runtime.predict(PredictRequest(rows=[ROW]))
    assert code_of(error) == (503, "model_not_ready")


async def test_a_runtime_refuses_a_missing_or_changed_file(store: GatedStore) -> None:
    with pytest.raises(AppError) as missing:
        await ModelRuntime("nope", store).load()
    assert code_of(missing) == (404, "model_not_found")
    store.path(model_path("m2")).write_bytes(b"not what was signed")
    with pytest.raises(AppError) as changed:
        await ModelRuntime("m2", store).load()
    assert code_of(changed) == (409, "model_untrusted")


async def test_missing_columns_keep_their_answer(store: GatedStore) -> None:
    runtime = ModelRuntime("m1", store)
    await runtime.load()
    with pytest.raises(AppError) as error:
        await runtime.predict(PredictRequest(rows=[{"height": 1}]))
    assert code_of(error) == (422, "missing_columns")


# --- the registry --------------------------------------------------------------------------


async def test_without_a_default_model_the_answer_is_409(store: GatedStore) -> None:
    with pytest.raises(AppError) as error:
        await ModelRegistry(store).get(None)
    assert code_of(error) == (409, "no_model_deployed")


async def test_many_requests_for_a_new_model_load_it_once(store: GatedStore) -> None:
    registry = ModelRegistry(store)
    runtimes = await asyncio.gather(*(registry.get("m1") for _ in range(5)))
    assert len({id(r) for r in runtimes}) == 1 and store.loads == [model_path("m1")]


async def test_deploy_swaps_the_default_only_once_the_new_model_is_loaded(
    store: GatedStore,
) -> None:
    registry = ModelRegistry(store)
    await registry.deploy("m1")
    store.gate.clear()
    deploying = asyncio.create_task(registry.deploy("m2"))
    await eventually(lambda: model_path("m2") in store.loads, within=5)
    # While m2 loads, requests keep being answered by m1.
    answer = await (await registry.get(None)).predict(PredictRequest(rows=[ROW]))
    assert answer.model_id == "m1" and registry.default_id == "m1"
    store.gate.set()
    await deploying
    assert registry.default_id == "m2"


async def test_a_model_that_fails_to_load_leaves_the_default(store: GatedStore) -> None:
    registry = ModelRegistry(store)
    await registry.deploy("m1")
    with pytest.raises(AppError):
        await registry.deploy("nope")
    assert registry.default_id == "m1" and registry.loaded == ["m1"]


async def test_the_cache_evicts_the_least_used_model_but_never_the_default(
    store: GatedStore,
) -> None:
    registry = ModelRegistry(store, capacity=2)
    await registry.deploy("m1")
    m2 = await registry.get("m2")
    m3 = await registry.get("m3")
    assert registry.loaded == ["m1", "m3"] and not m2.ready and m3.ready
    await registry.unload_all()
    assert registry.loaded == [] and not m3.ready


async def test_restore_picks_up_the_model_switched_on_before(store: GatedStore) -> None:
    store.write_json(DEPLOYED_MARKER, {"model_id": "m2"})
    registry = ModelRegistry(store)
    await registry.restore()
    assert registry.default_id == "m2"


# --- the service: HTTP and the bus ---------------------------------------------------------


async def test_a_model_answers_its_signature_and_readiness(store: GatedStore) -> None:
    service = bootstrap(Settings(data_dir=store.root), MemoryBus(), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://predictor"
    ) as client:
        found = await client.get("/models/m1")
        missing = await client.get("/models/nope")
    assert found.status_code == 200
    assert found.json()["ready"] is True and found.json()["signature"]["target"] == "churn"
    assert (missing.status_code, missing.json()["code"]) == (404, "model_not_found")


async def test_a_deployed_event_switches_the_default(store: GatedStore) -> None:
    bus = MemoryBus()
    await bus.start()
    service = bootstrap(Settings(data_dir=store.root, heartbeat_interval_s=60), bus, store)
    await service.start()
    try:
        await bus.publish(ModelDeployed(model_id="m3", model_path=model_path("m3")))
        await eventually(lambda: service.registry.default_id == "m3", within=5)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.app), base_url="http://predictor"
        ) as client:
            health = (await client.get("/health")).json()
    finally:
        await service.stop()
        await bus.close()
    assert health == {"status": "ok", "default_model": "m3", "loaded": 1}
    assert service.registry.loaded == []  # stopping lets the models go


# --- the shared service shape --------------------------------------------------------------


class Part:
    def __init__(self, name: str, done: list[str], fail: str = "", hang: bool = False):
        self.name, self._done, self._fail, self._hang = name, done, fail, hang

    async def start(self) -> None:
        if self._fail == "start":
            raise RuntimeError(f"{self.name} cannot start")
        self._done.append(f"start {self.name}")

    async def stop(self) -> None:
        if self._hang:
            await asyncio.sleep(60)
        if self._fail == "stop":
            raise RuntimeError(f"{self.name} cannot stop")
        self._done.append(f"stop {self.name}")


async def test_parts_start_in_order_and_stop_in_reverse() -> None:
    done: list[str] = []
    stepped: list[str] = []

    async def up() -> None:
        stepped.append("up")

    async def down() -> None:
        stepped.append("down")

    lifecycle = Lifecycle(
        "test", Part("a", done), Step("up", up), Step("down", stop=down), Part("b", done)
    )
    await lifecycle.start()
    await lifecycle.stop()
    await lifecycle.stop()  # a second stop has nothing left to stop
    assert done == ["start a", "start b", "stop b", "stop a"] and stepped == ["up", "down"]


async def test_a_part_that_fails_to_start_stops_the_ones_before_it() -> None:
    done: list[str] = []
    lifecycle = Lifecycle("test", Part("a", done), Part("b", done, fail="start"), Part("c", done))
    with pytest.raises(RuntimeError, match="b cannot start"):
        await lifecycle.start()
    assert done == ["start a", "stop a"]


async def test_stopping_always_finishes_and_logs_what_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []
    lifecycle = Lifecycle(
        "test",
        Part("a", done),
        Part("stuck", done, hang=True),
        Part("broken", done, fail="stop"),
        stop_timeout_s=0.05,
    )
    await lifecycle.start()
    with caplog.at_level(logging.ERROR):
        await lifecycle.stop()
    assert done[-1] == "stop a"
    assert "stopping broken failed" in caplog.text and "stopping stuck failed" in caplog.text


class Board(BaseModel):
    status: str
    components: dict[str, str]


@pytest.mark.parametrize(("status", "code"), [("ok", 200), ("degraded", 200), ("down", 503)])
async def test_a_service_app_answers_its_health(status: str, code: int) -> None:
    async def health() -> ServiceHealth:
        return ServiceHealth.model_validate({"status": status, "busy": False})

    async def board() -> Board:
        return Board(status="ok", components={"database": "ok"})

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service_app("test", health)), base_url="http://t"
    ) as client:
        answer = await client.get("/health")
        assert (await client.get("/metrics")).status_code == 200
    assert (answer.status_code, answer.json()) == (code, {"status": status, "busy": False})
    schema = service_app("gateway", board).openapi()["paths"]["/health"]["get"]
    assert schema["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Board"
    }
