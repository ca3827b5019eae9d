"""The Markdown report of an AutoML benchmark: one table per budget and the pass/fail checks."""

from __future__ import annotations

from statistics import mean

MIN_MEAN_RATIO = 1.00
MIN_RATIO = 0.97
# Below this FLAML R², ours / FLAML says nothing (and flips sign below zero).
MEANINGFUL_R2 = 0.1
COLUMNS = (
    "dataset",
    "rows",
    "task",
    "ours",
    "FLAML",
    "ratio",
    "HGB",
    "naive",
    "ours wall (inner) s",
    "FLAML wall (inner) s",
    "ours peak MB",
    "FLAML peak MB",
)


def held(budget: float, inner_s: float | None) -> bool | None:
    """Whether a method stayed within its budget: inner time <= budget x 1.1 + 5 s."""
    return None if inner_s is None else inner_s <= budget * 1.1 + 5


def budget_label(budget: float) -> str:
    return f"{budget:g}"


def ratio(ours: dict | None, flaml: dict | None) -> tuple[float | None, bool]:
    """ours / FLAML and whether that ratio means anything."""
    if not ours or not flaml or ours["score"] is None or flaml["score"] is None:
        return None, False
    if flaml["score"] == 0:
        return None, False
    value = ours["score"] / flaml["score"]
    return value, not (flaml["task"] == "regression" and flaml["score"] < MEANINGFUL_R2)


def render(data: dict, budgets: list[float]) -> str:
    """The whole report for the runs in `data` (as written to automl.json)."""
    machine = data["machine"]
    lines = [
        "# AutoML benchmark: ours against FLAML",
        "",
        f"Written {data['written_at']}. Machine: {machine['cores']} cores, "
        f"{machine['ram_gb']:.1f} GB RAM, {machine['platform']}; Python {machine['python']}, "
        f"scikit-learn {machine['sklearn']}, FLAML {machine['flaml']}, "
        f"pandas {machine['pandas']}.",
        "",
        "One fixed 75/25 split per dataset (stratified for classification, random_state=0); "
        "every (dataset, budget, method) runs alone in a fresh process. Score on the test rows: "
        "balanced accuracy (classification) or R² (regression); ratio = ours / FLAML. HGB is "
        "scikit-learn's HistGradientBoosting with defaults and naive the majority class or the "
        "mean; both ignore the budget. Wall time includes starting the process and loading the "
        "data; inner time is the fit alone, and a method held the budget when inner time ≤ "
        "budget × 1.1 + 5 s. Peak MB is the largest resident memory of the run's process tree.",
    ]
    for budget in budgets:
        lines += ["", *_section(data["runs"], budget)]
    lines += _footnotes(data["runs"])
    return "\n".join(lines) + "\n"


def _index(runs: list[dict], budget: float) -> dict[str, dict[str, dict]]:
    table: dict[str, dict[str, dict]] = {}
    for run in runs:
        if run["budget"] is None or run["budget"] == budget:
            table.setdefault(run["dataset"], {})[run["method"]] = run
    return table


def _section(runs: list[dict], budget: float) -> list[str]:
    table = _index(runs, budget)
    rows, ratios, checks = [], [], _Checks()
    for dataset, by_method in table.items():
        value, meaningful = ratio(by_method.get("ours"), by_method.get("flaml"))
        if meaningful:
            ratios.append((value, dataset))
        checks.add(dataset, by_method)
        rows.append(_row(dataset, by_method, value, meaningful))
    rows.append(_mean_row(table, ratios))
    header = [f"## Budget {budget_label(budget)} s", "", checks.summary(ratios), ""]
    return [
        *header,
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


class _Checks:
    """The pass/fail lines: ratios, never below naive, budgets held."""

    def __init__(self) -> None:
        self.below_naive: list[str] = []
        self.compared = 0
        self.over: dict[str, list[str]] = {"ours": [], "flaml": []}
        self.counted = {"ours": 0, "flaml": 0}

    def add(self, dataset: str, by_method: dict[str, dict]) -> None:
        ours, naive = by_method.get("ours"), by_method.get("naive")
        if ours and naive and naive["score"] is not None:
            self.compared += 1
            if not _beats(ours, naive["score"]):
                self.below_naive.append(dataset)
        for method in self.over:
            if method in by_method:
                self.counted[method] += 1
                if not by_method[method]["held_budget"]:
                    self.over[method].append(dataset)

    def summary(self, ratios: list[tuple[float, str]]) -> str:
        parts = []
        if ratios:
            avg, (low, worst) = mean(r for r, _ in ratios), min(ratios)
            parts.append(f"mean ratio {avg:.3f} ≥ {MIN_MEAN_RATIO:.2f} {_mark(avg >= 1.0)}")
            parts.append(f"min ratio {low:.3f} ({worst}) ≥ {MIN_RATIO} {_mark(low >= MIN_RATIO)}")
        if self.compared:
            below = ", ".join(self.below_naive) or "none"
            parts.append(f"ours below naive: {below} {_mark(not self.below_naive)}")
        for method, name in (("ours", "ours"), ("flaml", "FLAML")):
            over, total = self.over[method], self.counted[method]
            if total:
                where = f" (over: {', '.join(over)})" if over else ""
                ok = _mark(not over) if method == "ours" else ""
                parts.append(f"{name} held the budget {total - len(over)}/{total}{where} {ok}")
        return "Checks: " + "; ".join(p.rstrip() for p in parts) + "."


def _beats(run: dict, score: float) -> bool:
    return run["score"] is not None and run["score"] >= score


def _budget(run: dict) -> str:
    return "any budget" if run["budget"] is None else f"{budget_label(run['budget'])} s"


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def _task(run: dict) -> str:
    if run.get("task") == "regression":
        return "regression"
    classes = run.get("classes")
    return "binary" if classes == 2 else f"{classes} classes" if classes else "?"


def _cell(run: dict | None, key: str = "score", digits: int = 3) -> str:
    if run is None:
        return ""
    if run["error"] and key == "score":
        return "error" + ("*" if run.get("reused") else "")
    value = run.get(key)
    text = "" if value is None else f"{value:.{digits}f}"
    return text + ("*" if run.get("reused") and key == "score" else "")


def _wall(run: dict | None) -> str:
    if run is None or run["wall_s"] is None:
        return ""
    inner = "?" if run["inner_s"] is None else f"{run['inner_s']:.1f}"
    return f"{run['wall_s']:.1f} ({inner})" + ("" if run["held_budget"] else " ⚠")


def _row(dataset: str, by_method: dict[str, dict], value: float | None, meaningful: bool):
    any_run = next(iter(by_method.values()))
    ours, flaml = by_method.get("ours"), by_method.get("flaml")
    shown = "" if value is None else f"{value:.3f}" + ("" if meaningful else " †")
    return [
        dataset,
        str(any_run.get("rows") or ""),
        _task(any_run),
        _cell(ours),
        _cell(flaml),
        shown,
        _cell(by_method.get("hgb")),
        _cell(by_method.get("naive")),
        _wall(ours),
        _wall(flaml),
        _cell(ours, "peak_mb", 0),
        _cell(flaml, "peak_mb", 0),
    ]


def _mean_row(table: dict[str, dict[str, dict]], ratios: list[tuple[float, str]]) -> list[str]:
    def avg(method: str, key: str, digits: int) -> str:
        values = [m[method][key] for m in table.values() if m.get(method)]
        values = [v for v in values if v is not None]
        return f"{mean(values):.{digits}f}" if values else ""

    shown_ratio = f"{mean(r for r, _ in ratios):.3f}" if ratios else ""
    return [
        "**mean**",
        "",
        "",
        avg("ours", "score", 3),
        avg("flaml", "score", 3),
        shown_ratio,
        avg("hgb", "score", 3),
        avg("naive", "score", 3),
        avg("ours", "wall_s", 1),
        avg("flaml", "wall_s", 1),
        avg("ours", "peak_mb", 0),
        avg("flaml", "peak_mb", 0),
    ]


def _footnotes(runs: list[dict]) -> list[str]:
    lines = [
        "",
        f"† FLAML's R² is below {MEANINGFUL_R2}, so the ratio is shown but left out of the "
        "mean and the minimum. ⚠ the method went over its budget "
        "(inner time > budget × 1.1 + 5 s).",
    ]
    reused = sorted({run["finished_at"][:10] for run in runs if run.get("reused")})
    if reused:
        lines.append(
            f"\n\\* reused from an earlier invocation (run on {', '.join(reused)}), "
            "not re-run this time."
        )
    errors = [run for run in runs if run["error"]]
    if errors:
        lines += ["", "Errors:", ""]
        lines += [f"- {r['dataset']} / {r['method']} / {r['budget']}: {r['error']}" for r in errors]
    return lines
