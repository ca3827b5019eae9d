"""The models this predictor answers with, and which one is the default (MLServer's registry of
versions with a default, keyed by model id).

Runtimes are loaded on first use or when deployed, once however many requests ask at the same
time, and kept in a small LRU cache; the default is never evicted. Deploying loads the new
model first and swaps the default after, so a request in flight never meets a half-loaded
model; an evicted runtime is unloaded, and a request already using it keeps its model.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures import Executor

from services.common.errors import Conflict
from services.common.storage import DEPLOYED_MARKER, FileStore
from services.predictor.runtime import ModelRuntime

log = logging.getLogger(__name__)


class ModelRegistry:
    def __init__(self, store: FileStore, capacity: int = 8, executor: Executor | None = None):
        """`executor` runs the models' predictions (see ModelRuntime)."""
        self._store, self._capacity, self._executor = store, capacity, executor
        self._runtimes: OrderedDict[str, ModelRuntime] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.default_id: str | None = None

    @property
    def loaded(self) -> list[str]:
        """The ids of the models in memory, least recently used first."""
        return list(self._runtimes)

    async def get(self, model_id: str | None) -> ModelRuntime:
        """The ready runtime of `model_id`, or of the default model when None (409
        `no_model_deployed` when there is none); loading it first if needed."""
        model_id = model_id or self.default_id
        if model_id is None:
            raise Conflict(
                "No model is switched on yet. Train one and choose 'Use this model'.",
                code="no_model_deployed",
            )
        runtime = self._runtimes.get(model_id)
        if runtime is None:
            return await self._load(model_id)
        self._runtimes.move_to_end(model_id)
        return runtime

    async def deploy(self, model_id: str) -> None:
        """Make `model_id` the default, once it is loaded (a model that fails to load leaves
        the previous default answering)."""
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

    async def unload_all(self) -> None:
        """Let every model go (the predictor is stopping)."""
        while self._runtimes:
            _, runtime = self._runtimes.popitem()
            await runtime.unload()

    async def _load(self, model_id: str) -> ModelRuntime:
        lock = self._locks.setdefault(model_id, asyncio.Lock())
        async with lock:  # many requests for a new model: load it once
            runtime = self._runtimes.get(model_id)
            if runtime is None:
                runtime = ModelRuntime(model_id, self._store, self._executor)
                try:
                    await runtime.load()
                except BaseException:
                    self._forget_lock(model_id, lock)  # a wrong id must not leave a lock behind
                    raise
                # A load that raced this one (its lock forgotten meanwhile) keeps its place.
                runtime = self._runtimes.setdefault(model_id, runtime)
        for evicted in self._evict(keep=model_id):
            await evicted.unload()
        return runtime

    def _evict(self, keep: str) -> list[ModelRuntime]:
        """Take the least recently used models past capacity out, sparing the default and
        `keep` (the one about to be answered with)."""
        spare = [m for m in self._runtimes if m not in (self.default_id, keep)]
        evicted = []
        while len(self._runtimes) > self._capacity and spare:
            model_id = spare.pop(0)
            evicted.append(self._runtimes.pop(model_id))
            self._forget_lock(model_id, self._locks.get(model_id))
        return evicted

    def _forget_lock(self, model_id: str, lock: asyncio.Lock | None) -> None:
        if lock is not None and self._locks.get(model_id) is lock:
            del self._locks[model_id]
