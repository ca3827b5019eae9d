"""Side-by-side AutoML benchmark: our trainer against FLAML, HistGradientBoosting and a naive guess.

    python -m bench.automl --budgets 30 120 [--datasets iris,wine] [--methods ours,flaml,hgb,naive]
                           [--out bench/results] [--merge]

Runs one at a time (timing must be fair on a small machine), each in a fresh process, and
rewrites bench/results/automl.json and automl.md after every run. `--merge` keeps the earlier
runs of automl.json that this invocation does not redo, e.g. `--methods ours --merge` while
iterating on the trainer; the report marks the reused runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import psutil

from bench import report
from bench.datasets import DATASETS

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("ours", "flaml", "hgb", "naive")
BUDGETED = ("ours", "flaml")
POLL_S = 0.25


def _timeout(budget: float | None) -> float:
    """How long a run may take before it is killed and recorded as an error."""
    return 600.0 if budget is None else 3 * budget + 300


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # it ended between listing and reading
            total += member.memory_info().rss
    return total


def _watch(proc: subprocess.Popen, timeout: float) -> tuple[int, bool]:
    """Wait for the worker, sampling its process tree's memory; kill it after `timeout`."""
    deadline, peak = time.monotonic() + timeout, 0
    watched = psutil.Process(proc.pid)
    while proc.poll() is None:
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return peak, True
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(POLL_S)
    return peak, False


def _execute(spec: dict) -> dict:
    """Run one (dataset, budget, method) in a fresh process and collect what it reports."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "log.txt"
        command = [sys.executable, "-m", "bench.worker", json.dumps(spec), str(out)]
        started = time.monotonic()
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
            tree_peak, timed_out = _watch(proc, _timeout(spec["budget"]))
        wall = time.monotonic() - started
        _end_leftovers(proc.pid)
        if out.exists():
            result = json.loads(out.read_text())
        else:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            why = "timed out" if timed_out else f"worker exited with code {proc.returncode}"
            result = {"error": " | ".join([why, *tail])[:500]}
    peaks = [tree_peak / 2**20, result.pop("peak_self_mb", 0), result.pop("peak_children_mb", 0)]
    return {**result, "wall_s": wall, "peak_mb": max(peaks)}


def _end_leftovers(group: int) -> None:
    """Pool workers a method left behind belong to the run's process group: end them."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _record(spec: dict, result: dict) -> dict:
    budget = spec["budget"]
    return {
        "dataset": spec["dataset"],
        "rows": result.get("rows"),
        "columns": result.get("columns"),
        "task": result.get("task"),
        "classes": result.get("classes"),
        "budget": budget,
        "method": spec["method"],
        "score": result.get("score"),
        "wall_s": result["wall_s"],
        "inner_s": result.get("inner_s"),
        "predict_s": result.get("predict_s"),
        "peak_mb": result["peak_mb"],
        "held_budget": None if budget is None else report.held(budget, result.get("inner_s")),
        "error": result.get("error"),
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _plan(datasets: list[str], budgets: list[float], methods: list[str]) -> list[dict]:
    specs = []
    for dataset in datasets:
        for method in methods:
            if method not in BUDGETED:
                specs.append({"dataset": dataset, "method": method, "budget": None})
        for budget in budgets:
            for method in methods:
                if method in BUDGETED:
                    specs.append({"dataset": dataset, "method": method, "budget": budget})
    return specs


def _machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "ram_gb": psutil.virtual_memory().total / 2**30,
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "sklearn": version("scikit-learn"),
        "flaml": version("flaml"),
        "pandas": version("pandas"),
    }


def _key(run: dict) -> tuple:
    return run["dataset"], run["budget"], run["method"]


def _previous(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [{**run, "reused": True} for run in json.loads(path.read_text())["runs"]]


def _write(out: Path, runs: dict[tuple, dict], budgets: list[float]) -> None:
    data = {
        "written_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": _machine(),
        "budgets": budgets,
        "runs": list(runs.values()),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "automl.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "automl.md").write_text(report.render(data, budgets))


def _progress(i: int, total: int, run: dict) -> str:
    budget = "-" if run["budget"] is None else report.budget_label(run["budget"])
    score = "ERROR" if run["error"] else f"score={run['score']:.4f}"
    inner = "?" if run["inner_s"] is None else f"{run['inner_s']:.1f}"
    line = (
        f"[{i}/{total}] {run['dataset']:<17} budget={budget:<4} {run['method']:<6} {score} "
        f"wall={run['wall_s']:.1f}s inner={inner}s peak={run['peak_mb']:.0f}MB"
    )
    if run["held_budget"] is False:
        line += " OVER BUDGET"
    return line + (f"  ({run['error']})" if run["error"] else "")


def _names(text: str, known, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"Unknown {what}: {', '.join(unknown)}. Known: {', '.join(known)}.")
    return names


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.automl", description=summary)
    parser.add_argument("--budgets", nargs="+", type=float, default=[30.0, 120.0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--merge", action="store_true", help="keep earlier runs not redone")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    datasets = _names(args.datasets, list(DATASETS), "datasets")
    methods = _names(args.methods, METHODS, "methods")
    previous = _previous(args.out / "automl.json") if args.merge else []
    runs = {_key(run): run for run in previous}
    budgets = sorted({*args.budgets, *(r["budget"] for r in previous if r["budget"] is not None)})
    specs = _plan(datasets, args.budgets, methods)
    print(f"{len(specs)} runs, one at a time; results in {args.out}", flush=True)
    for i, spec in enumerate(specs, 1):
        run = _record(spec, _execute(spec))
        runs[_key(run)] = run
        print(_progress(i, len(specs), run), flush=True)
        _write(args.out, runs, budgets)
    print(f"Report: {args.out / 'automl.md'}", flush=True)


if __name__ == "__main__":
    main()
