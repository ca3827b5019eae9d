"""Runs one training in a child process, so the CPU-bound work never blocks the event loop
(the broker connection keeps its heartbeats) and a cancel or time-out can simply kill it."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited loop or sockets

ProgressCallback = Callable[[float, str], Awaitable[None]]


@dataclass
class Outcome:
    status: str  # "succeeded" | "failed" | "cancelled"
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    code: str = ""


@dataclass
class TrainingSpec:
    data_dir: str
    secret: bytes
    dataset_path: str
    model_path: str
    target: str
    time_budget_s: float
    algorithm: str = "auto"
    seed: int = 0


def hard_limit_s(time_budget_s: float) -> float:
    """The most a run may take before it is stopped: the budget plus 10% plus 5 s."""
    return time_budget_s * 1.1 + 5.0


class TrainingRun:
    def __init__(self, spec: TrainingSpec):
        self.spec = spec
        self._process: multiprocessing.process.BaseProcess | None = None
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        if self._process is not None and self._process.is_alive():
            self._process.kill()

    async def run(self, on_progress: ProgressCallback) -> Outcome:
        receiver, sender = _CONTEXT.Pipe(duplex=False)
        self._process = _CONTEXT.Process(target=_child_main, args=(sender, self.spec), daemon=True)
        self._process.start()
        sender.close()
        try:
            return await self._follow(receiver, on_progress)
        finally:
            if self._process.is_alive():
                self._process.kill()
            await asyncio.to_thread(self._process.join, 5)
            receiver.close()

    async def _follow(self, receiver: Connection, on_progress: ProgressCallback) -> Outcome:
        deadline = time.monotonic() + hard_limit_s(self.spec.time_budget_s)
        while True:
            if self._cancelled:
                return Outcome("cancelled")
            if time.monotonic() > deadline:
                limit = int(self.spec.time_budget_s)
                return Outcome(
                    "failed",
                    error=f"Training did not finish within its time limit of {limit} seconds. "
                    "Try a longer time limit or a smaller file.",
                    code="timed_out",
                )
            try:
                ready = await asyncio.to_thread(receiver.poll, 0.25)
                message = receiver.recv() if ready else None
            except (EOFError, OSError):
                message = ("died",)
            if message is None:
                continue
            kind = message[0]
            if kind == "progress":
                await on_progress(message[1], message[2])
            elif kind == "done":
                return Outcome("succeeded", result=message[1])
            elif kind == "error":
                return Outcome("failed", error=message[1], code=message[2])
            else:
                if self._cancelled:
                    return Outcome("cancelled")
                return Outcome(
                    "failed",
                    error="Training stopped unexpectedly, possibly because the "
                    "computer ran out of memory. Try a smaller file.",
                    code="trainer_crashed",
                )


def _child_main(sender: Connection, spec: TrainingSpec) -> None:
    """Entry point of the child process: train, save the model file, report back."""
    from services.common.data.reading import read_csv
    from services.common.errors import AppError
    from services.common.storage import FileStore
    from services.trainer.domain.training import train_model

    _die_with_parent()
    try:
        store = FileStore(Path(spec.data_dir), spec.secret)
        sender.send(("progress", 0.01, "Reading your data"))
        try:
            frame = read_csv(store.path(spec.dataset_path))
        except FileNotFoundError:
            raise AppError(
                "The data file for this training could not be found. Please upload it again.",
                code="dataset_missing",
            ) from None
        started = time.monotonic()
        result = train_model(
            frame,
            spec.target,
            time_budget_s=spec.time_budget_s,
            progress=lambda fraction, stage: sender.send(("progress", fraction, stage)),
            seed=spec.seed,
            algorithm=spec.algorithm,
        )
        store.save_model(spec.model_path, result.bundle)
        fields = _result_fields(result)
        fields["training_seconds"] = round(time.monotonic() - started, 2)
        sender.send(("done", fields))
    except AppError as exc:
        sender.send(("error", exc.detail, exc.code))
    except MemoryError:
        sender.send(
            (
                "error",
                "There was not enough memory to train on this file. Try a smaller file.",
                "out_of_memory",
            )
        )
    except Exception:
        logging.getLogger("trainer.child").exception("training failed")
        sender.send(
            (
                "error",
                "Training stopped because of an unexpected problem with this data.",
                "training_failed",
            )
        )
    finally:
        sender.close()


def _die_with_parent() -> None:
    """On Linux, a trainer killed outright takes its training child with it: no orphan keeps
    burning CPU or writing files after its job was handed to another trainer."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _result_fields(result: Any) -> dict[str, Any]:
    """What the `training.succeeded` event says about a trained model (all JSON-safe)."""
    names = (
        "light_reason",
        "notes",
        "algorithm",
        "score_name",
        "score",
        "metrics",
        "light",
        "summary",
        "leaderboard",
        "feature_importance",
        "features",
    )
    fields = {name: getattr(result, name) for name in names}
    bundle = result.bundle
    fields.update(task=bundle.task, target=bundle.target, versions=dict(bundle.versions))
    return fields
