"""Runs one training in a child process, so the CPU-bound work never blocks the event loop
(the broker connection keeps its heartbeats) and a runaway training can simply be killed.

The time budget running out asks the child to wrap up (SIGUSR1) with the best model found so
far; a cancel asks it to stop (SIGUSR2), with a model if it has one. The child's first model is
quick, and is saved (signed) and reported as soon as it exists (`FirstModel`). The limits:

- Until the first model exists, the hard limit does not apply: a busy machine only delays the
  first model, and a job with a model beats one without. Only the much larger safety limit
  ends a child that never makes one (it is stuck).
- Once it exists, the child wrapping up too slowly is killed at the hard limit, and the job
  keeps that first model: its file is already written.
- While the child writes its final model file (`Saving`), it is not killed before the safety
  limit; even then, the signature names both the old and the new file while the file is
  swapped (storage.save_model), so whichever is on disk verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import math
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
STOP_SIGNAL = signal.SIGUSR1  # the budget is used up: wrap up with the best model so far
CANCEL_SIGNAL = signal.SIGUSR2  # the user gave up: wrap up, without a first model if none yet
CANCEL_GRACE_S = 15.0  # after a cancel, how long the child may take to hand in its best model
POLL_S = 0.25


@dataclass
class Outcome:
    status: str  # "succeeded" | "failed" | "cancelled"
    report: ModelReport | None = None
    """The trained model's report, when it succeeded."""
    error: str = ""
    code: str = ""


# What the training child tells its parent through the pipe: small typed messages.
@dataclass(frozen=True)
class Listening:
    """The child's signal handlers are in place: a stop signal before this would kill it."""


@dataclass(frozen=True)
class FirstModel:
    """The first model is saved in the model file: the job has a model whatever comes next."""

    report: ModelReport


@dataclass(frozen=True)
class Saving:
    """The child is writing its final model file: killing it now could lose that work."""


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


ChildMessage = Listening | Progressed | FirstModel | Saving | Finished | Failed | StoppedEmpty


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
    """The most a run with a model may take before it is stopped: the budget plus 10% plus 5 s."""
    return time_budget_s * 1.1 + 5.0


def safety_limit_s(time_budget_s: float) -> float:
    """The most any run may take, however busy the machine: only a stuck child takes this
    long to make its quick first model (or to write its model file)."""
    return time_budget_s * 2 + 120.0


class TrainingRun:
    def __init__(self, spec: TrainingSpec):
        self.spec = spec
        self._process: multiprocessing.process.BaseProcess | None = None
        self._cancelled = False
        self._cancelled_at: float | None = None
        self._listening = False  # the child told us its signal handlers are in place
        self._signalled: set[signal.Signals] = set()
        self._wrap_up = False  # the budget is used up
        self._first: ModelReport | None = None  # the first model's report, once saved
        self._saving = False

    def cancel(self) -> None:
        """Stop soon, keeping the best model found so far (if any)."""
        if not self._cancelled:
            self._cancelled, self._cancelled_at = True, time.monotonic()
        self._send_signals()

    def _send_signals(self) -> None:
        """Tell the child what is wanted, each signal once, and only once it listens."""
        if not self._listening or self._process is None or not self._process.pid:
            return
        wanted = {CANCEL_SIGNAL} if self._cancelled else set()
        wanted |= {STOP_SIGNAL} if self._wrap_up else set()
        for sig in sorted(wanted - self._signalled):
            self._signalled.add(sig)
            if self._process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._process.pid, sig)

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
        safety = started + safety_limit_s(self.spec.time_budget_s)
        while True:
            now = time.monotonic()
            if now > budget_ends:
                self._wrap_up = True
            self._send_signals()
            if self._cut_short_due(now, deadline, safety):
                # Read what the child said meanwhile: it may have finished, or be saving.
                ending = await self._drain(receiver, on_progress)
                if ending is not None:
                    return ending
                if self._cut_short_due(time.monotonic(), deadline, safety):
                    return self._cut_short()
            try:
                ready = await asyncio.to_thread(receiver.poll, POLL_S)
                message: ChildMessage | None = receiver.recv() if ready else None
            except (EOFError, OSError):
                return self._died()
            if message is not None:
                ending = await self._handle(message, on_progress)
                if ending is not None:
                    return ending

    def _cut_short_due(self, now: float, deadline: float, safety: float) -> bool:
        """Whether to stop waiting for the child's own outcome (see the module's docstring)."""
        if now > safety:
            return True
        if self._saving:
            return False
        cancel_ends = (self._cancelled_at or math.inf) + CANCEL_GRACE_S
        if self._first is None:  # no model yet: waiting costs nothing a cancel cares for
            return self._cancelled and now > cancel_ends
        return now > min(deadline, cancel_ends)

    def _cut_short(self) -> Outcome:
        """The outcome of a child stopped before it finished: its first model, if saved."""
        log.warning(
            "training child stopped before it finished",
            extra={"first_model": self._first is not None, "saving": self._saving},
        )
        if self._first is not None:
            return Outcome("succeeded", report=self._first)
        return Outcome("cancelled") if self._cancelled else self._timed_out()

    async def _drain(self, receiver: Connection, on_progress: ProgressCallback) -> Outcome | None:
        """Handle every message already sent; the outcome if one of them ends the run."""
        try:
            for _ in range(10_000):  # bounded: a chatty child cannot hold the parent here
                if not receiver.poll(0):
                    break
                ending = await self._handle(receiver.recv(), on_progress)
                if ending is not None:
                    return ending
        except (EOFError, OSError):
            return self._died()
        return None

    async def _handle(self, message: ChildMessage, on_progress: ProgressCallback) -> Outcome | None:
        match message:
            case Listening():
                self._listening = True
                self._send_signals()  # a stop or cancel asked before it listened
            case Progressed(fraction, stage):
                await on_progress(fraction, stage)
            case FirstModel(report):
                self._first = report
            case Saving():
                self._saving = True
            case Finished(report):
                return Outcome("succeeded", report=report)
            case Failed(error, code) if self._first is not None:
                # e.g. out of memory later in the search: the first model is still good.
                log.warning("training failed after its first model (%s); keeping that model", code)
                return Outcome("succeeded", report=self._first)
            case Failed(error, code):
                return Outcome("failed", error=error, code=code)
            case StoppedEmpty():
                return Outcome("cancelled") if self._cancelled else self._timed_out()
        return None

    def _died(self) -> Outcome:
        if self._first is not None:  # e.g. out of memory later in the search: keep the first
            log.warning("training child died after its first model; keeping that model")
            return Outcome("succeeded", report=self._first)
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
    from services.trainer.domain.training import (
        StoppedBeforeAnyModel,
        TrainingResult,
        train_model,
    )

    _die_with_parent()
    wrap_up, cancel = _event_on_signal(STOP_SIGNAL), _event_on_signal(CANCEL_SIGNAL)
    sender.send(Listening())
    _limit_memory(spec.memory_mb)
    started = time.monotonic()

    def timed(report: ModelReport) -> ModelReport:
        return report.model_copy(update={"training_seconds": round(time.monotonic() - started, 2)})

    def keep_first(result: TrainingResult) -> None:
        try:
            store.save_model(spec.model_path, result.bundle)
        except OSError:  # no fallback then, but the training itself goes on
            logging.getLogger("trainer.child").exception("could not save the first model")
            return
        sender.send(FirstModel(timed(result.report)))

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
        result = train_model(
            frame,
            spec.target,
            time_budget_s=spec.time_budget_s,
            progress=lambda fraction, stage: sender.send(Progressed(fraction, stage)),
            seed=spec.seed,
            algorithm=spec.algorithm,
            should_stop=lambda: wrap_up.is_set() or cancel.is_set(),
            cancelled=cancel.is_set,
            on_first_model=keep_first,
        )
        sender.send(Saving())
        store.save_model(spec.model_path, result.bundle)
        sender.send(Finished(timed(result.report)))
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


def _event_on_signal(sig: signal.Signals) -> threading.Event:
    """An event set when the parent sends `sig`."""
    event = threading.Event()
    signal.signal(sig, lambda *_: event.set())
    return event


def _limit_memory(memory_mb: int) -> None:
    """Cap the child's address space, so a file too big for the machine ends in a plain
    "not enough memory" error instead of the kernel killing a random process."""
    import psutil

    limit = memory_mb * 2**20 if memory_mb else int(psutil.virtual_memory().total * 0.75)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
