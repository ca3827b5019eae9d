"""One model file as something that answers predictions: load, ready, predict, unload
(the model lifecycle of SeldonIO/MLServer's `MLModel`).

Loading unpickles a signed file and predicting runs scikit-learn: both are blocking, so both
run in a worker thread and the event loop keeps answering other requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from services.common.data.answers import Answers
from services.common.errors import Unavailable
from services.common.model_report import ModelSignature
from services.common.prediction import PredictRequest, PredictResponse, Unusual
from services.common.storage import FileStore, model_path
from services.predictor.answers import score_csv

T = TypeVar("T")


class ModelRuntime:
    """A model by id: not ready until `load()` has read and verified its file."""

    def __init__(self, model_id: str, store: FileStore, executor: Executor | None = None):
        """`executor` runs the predictions (None: asyncio's default threads). A pool of its
        own keeps busy models from delaying other blocking work of the process (in one
        process, the gateway's database calls)."""
        self.model_id, self._store, self._executor = model_id, store, executor
        self._bundle: Any = None  # a ModelBundle once loaded

    @property
    def ready(self) -> bool:
        return self._bundle is not None

    async def load(self) -> None:
        """Read the model file, refusing one without this system's signature (NotFound
        `model_not_found`, TamperedFile `model_untrusted`). Loading twice is a no-op."""
        if not self.ready:
            self._bundle = await asyncio.to_thread(
                self._store.load_model, model_path(self.model_id)
            )

    async def unload(self) -> None:
        """Let the model go. A prediction already under way keeps the model it started with."""
        self._bundle = None

    @property
    def signature(self) -> ModelSignature:
        """What the model needs and answers, read from the file's bundle by field name."""
        return ModelSignature.model_validate(self._loaded(), from_attributes=True)

    async def predict(self, request: PredictRequest) -> PredictResponse:
        """One prediction per row, with how sure and what is unusual (422 `missing_columns`
        when the rows lack a column the model needs)."""
        answers = await self._run(self._loaded().answer, request.rows)
        return _response(self.model_id, answers)

    async def predict_csv(self, content: bytes) -> bytes:
        """The uploaded CSV with the prediction columns appended (see answers.score_csv)."""
        return await self._run(score_csv, self._loaded(), content)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def _loaded(self) -> Any:
        # Taken before any await: an unload while a prediction runs does not reach it.
        if self._bundle is None:
            raise Unavailable(
                "That model is being switched over. Please try again in a moment.",
                code="model_not_ready",
            )
        return self._bundle


def _response(model_id: str, answers: Answers) -> PredictResponse:
    return PredictResponse(
        model_id=model_id,
        predictions=answers.predictions,
        probabilities=answers.probabilities,
        confidence=answers.confidence,  # type: ignore[arg-type]  # "high", "medium" or "low"
        unusual=[Unusual(unusual=bool(reasons), reasons=reasons) for reasons in answers.unusual],
    )
