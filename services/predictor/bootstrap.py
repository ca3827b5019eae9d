"""Wires the predictor: an HTTP /predict that answers from deployed models, and a subscription
to `model.deployed` so every replica swaps to the new model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from services.common.admission import Admission
from services.common.bus import Bus
from services.common.events import ModelDeployed
from services.common.heartbeat import Heartbeat
from services.common.lifecycle import Lifecycle, Step
from services.common.settings import Settings
from services.common.storage import FileStore
from services.common.web import connection_health, service_app
from services.predictor.http import routes
from services.predictor.registry import ModelRegistry


class PredictorService(Lifecycle):
    def __init__(self, settings: Settings, bus: Bus, store: FileStore):
        # As many threads as predictions admitted at once: their own, so a busy model never
        # holds up the process's other blocking work.
        self._threads = ThreadPoolExecutor(settings.predict_concurrency, "predict")
        self.registry = ModelRegistry(store, executor=self._threads)
        heartbeat = Heartbeat(bus, "predictor", settings.heartbeat_interval_s, self.details)
        self.app = service_app("predictor", connection_health(bus, self.details))
        admission = Admission(
            settings.predict_concurrency, settings.predict_queue, settings.predict_max_wait_s
        )
        self.app.include_router(routes(self.registry, admission))
        super().__init__(
            "predictor",
            Step("prediction threads", stop=self._stop_threads),
            Step("models", self.registry.restore, self.registry.unload_all),
            Step("model.deployed", lambda: bus.consume_broadcast(self.on_deployed)),
            heartbeat,
        )

    async def _stop_threads(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def details(self) -> dict[str, object]:
        """Told in heartbeats and on /health."""
        return {"default_model": self.registry.default_id, "loaded": len(self.registry.loaded)}

    async def on_deployed(self, event: ModelDeployed) -> None:
        """Every replica gets the event (a broadcast) and swaps its own default."""
        await self.registry.deploy(event.model_id)


def bootstrap(settings: Settings, bus: Bus, store: FileStore) -> PredictorService:
    return PredictorService(settings, bus, store)
