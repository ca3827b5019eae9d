"""Runs one training in a child process, so the CPU-bound work never blocks the event loop
(the broker connection keeps its heartbeats) and a runaway training can simply be killed.

A cancel, or the time budget running out, first asks the child to stop (SIGUSR1): it wraps up
with the best model found so far. Only if it has not done so in time is it killed."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from services.common.model_report import ModelReport

log = logging.getLogger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited loop or sockets

ProgressCallback = Callable[[float, str], Awaitable[None]]
STOP_SIGNAL = signal.SIGUSR1
CANCEL_GRACE_S = 15.0  # after a cancel, how long the child may take to hand in its best model


@dataclass
class Outcome:
    status: str  # "succeeded" | "failed" | "cancelled"
    report: ModelReport | None = None
    """The trained model's report, when it succeeded."""
    error: str = ""
    code: str = ""


# What the training child tells its parent through the pipe: small typed messages.
@dataclass(frozen=True)
class Progressed:
    fraction: float
    stage: str


@dataclass(frozen=True)
class Finished:
    report: ModelReport


@dataclass(frozen=True)
class Failed:
    error: str
    code: str


@dataclass(frozen=True)
class StoppedEmpty:
    """Asked to stop before a single model was finished."""


ChildMessage = Progressed | Finished | Failed | StoppedEmpty


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
    memory_mb: int = 0  # 0: three quarters of the machine's memory


def hard_limit_s(time_budget_s: float) -> float:
    """The most a run may take before it is stopped: the budget plus 10% plus 5 s."""
    return time_budget_s * 1.1 + 5.0


class TrainingRun:
    def __init__(self, spec: TrainingSpec):
        self.spec = spec
        self._process: multiprocessing.process.BaseProcess | None = None
        self._cancelled = False
        self._stop_asked_at: float | None = None

    def cancel(self) -> None:
        """Stop soon, keeping the best model found so far (if any)."""
        self._cancelled = True
        self._ask_to_stop()

    def _ask_to_stop(self) -> None:
        """Signal the child once; before it exists, _follow asks again as soon as it does."""
        if self._stop_asked_at is not None or self._process is None or not self._process.pid:
            return
        self._stop_asked_at = time.monotonic()
        if self._process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, STOP_SIGNAL)

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

    def _timed_out(self) -> Outcome:
        limit = int(self.spec.time_budget_s)
        return Outcome(
            "failed",
            error=f"Training did not finish within its time limit of {limit} seconds. "
            "Try a longer time limit or a smaller file.",
            code="timed_out",
        )

    async def _follow(self, receiver: Connection, on_progress: ProgressCallback) -> Outcome:
        started = time.monotonic()
        budget_ends = started + self.spec.time_budget_s
        deadline = started + hard_limit_s(self.spec.time_budget_s)
        while True:
            now = time.monotonic()
            if self._cancelled and self._stop_asked_at is None:
                self._ask_to_stop()  # cancelled before the child existed
            asked = self._stop_asked_at if self._stop_asked_at is not None else now
            if self._cancelled and now > min(deadline, asked + CANCEL_GRACE_S):
                return Outcome("cancelled")
            if now > budget_ends:
                self._ask_to_stop()
            if now > deadline:
                return self._timed_out()
            try:
                ready = await asyncio.to_thread(receiver.poll, 0.25)
                message: ChildMessage | None = receiver.recv() if ready else None
            except (EOFError, OSError):
                return self._died()
            match message:
                case None:
                    continue
                case Progressed(fraction, stage):
                    await on_progress(fraction, stage)
                case Finished(report):
                    return Outcome("succeeded", report=report)
                case Failed(error, code):
                    return Outcome("failed", error=error, code=code)
                case StoppedEmpty():
                    return Outcome("cancelled") if self._cancelled else self._timed_out()

    def _died(self) -> Outcome:
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
    from services.trainer.domain.training import StoppedBeforeAnyModel, train_model

    _die_with_parent()
    stop = _stop_on_signal()
    _limit_memory(spec.memory_mb)
    try:
        store = FileStore(Path(spec.data_dir), spec.secret)
        sender.send(Progressed(0.01, "Reading your data"))
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
            progress=lambda fraction, stage: sender.send(Progressed(fraction, stage)),
            seed=spec.seed,
            algorithm=spec.algorithm,
            should_stop=stop.is_set,
        )
        store.save_model(spec.model_path, result.bundle)
        seconds = round(time.monotonic() - started, 2)
        sender.send(Finished(result.report.model_copy(update={"training_seconds": seconds})))
    except StoppedBeforeAnyModel:
        sender.send(StoppedEmpty())
    except AppError as exc:
        sender.send(Failed(exc.detail, exc.code))
    except MemoryError:
        sender.send(
            Failed(
                "There was not enough memory to train on this file. Try a smaller file.",
                "out_of_memory",
            )
        )
    except Exception:
        logging.getLogger("trainer.child").exception("training failed")
        sender.send(
            Failed(
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


def _stop_on_signal() -> threading.Event:
    """An event set when the parent asks the training to wrap up."""
    stop = threading.Event()
    signal.signal(STOP_SIGNAL, lambda *_: stop.set())
    return stop


def _limit_memory(memory_mb: int) -> None:
    """Cap the child's address space, so a file too big for the machine ends in a plain
    "not enough memory" error instead of the kernel killing a random process."""
    import psutil

    limit = memory_mb * 2**20 if memory_mb else int(psutil.virtual_memory().total * 0.75)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
