"""The models this predictor can answer with: loaded on first use or when deployed, kept in a
small LRU cache. Deploying loads the new model first and swaps the default after, so requests
in flight are never dropped."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from services.common.errors import Conflict
from services.common.storage import DEPLOYED_MARKER, FileStore, model_path

log = logging.getLogger(__name__)


class ModelRegistry:
    def __init__(self, store: FileStore, capacity: int = 8):
        self._store, self._capacity = store, capacity
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.default_id: str | None = None

    @property
    def loaded(self) -> list[str]:
        return list(self._models)

    async def get(self, model_id: str | None) -> tuple[str, Any]:
        model_id = model_id or self.default_id
        if model_id is None:
            raise Conflict(
                "No model is switched on yet. Train one and choose 'Use this model'.",
                code="no_model_deployed",
            )
        if model_id in self._models:
            self._models.move_to_end(model_id)
            return model_id, self._models[model_id]
        lock = self._locks.setdefault(model_id, asyncio.Lock())
        async with lock:  # many requests for a new model: load it once
            if model_id not in self._models:
                bundle = await asyncio.to_thread(self._store.load_model, model_path(model_id))
                self._models[model_id] = bundle
                while len(self._models) > self._capacity:
                    evicted, _ = self._models.popitem(last=False)
                    self._locks.pop(evicted, None)
        return model_id, self._models[model_id]

    async def deploy(self, model_id: str) -> None:
        await self.get(model_id)
        self.default_id = model_id
        log.info("model deployed", extra={"model_id": model_id})

    async def restore(self) -> None:
        """On start-up, pick up the model that was switched on before this predictor started."""
        if not self._store.exists(DEPLOYED_MARKER):
            return
        try:
            await self.deploy(self._store.read_json(DEPLOYED_MARKER)["model_id"])
        except Exception:
            log.exception("could not restore the deployed model")
