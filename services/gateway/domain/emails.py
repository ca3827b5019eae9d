"""The emails people get when their training finishes, in plain words (templates only: when one
is sent is decided in handlers/notifications.py, how in adapters/smtp.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.model_report import ModelReport

# The dashboard's words for the light (frontend LIGHTS.model), so the email and the page agree.
LIGHT_WORDS = {
    "green": "Good: reliable enough to use.",
    "yellow": "Fair: useful, but double-check important decisions.",
    "red": "Weak: not reliable yet. More or cleaner data would help.",
}
FOOTER = (
    "You get this email because news about finished training is switched on in Settings. "
    "Switch it off there to stop these emails."
)


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str
    about: str
    """What the email is about, for the activity feed: "the model for 'churn'"."""
    ref_id: str


def model_ready(model_id: str, report: ModelReport, dashboard_url: str) -> Notice:
    lines = [
        f"Your model for '{report.target}' is ready.",
        "",
        f"How good it is: {LIGHT_WORDS[report.light]} {report.light_reason}".strip(),
        "",
        report.summary,
        score_sentence(report),
    ]
    return Notice(
        subject=f"Your model for '{report.target}' is ready",
        body=_body(lines, dashboard_url, "See it on your dashboard and switch it on"),
        about=f"the model for '{report.target}'",
        ref_id=model_id,
    )


def training_failed(job_id: str, target: str, error: str | None, dashboard_url: str) -> Notice:
    lines = [
        f"Training for '{target}' did not finish.",
        "",
        error or "The reason was not recorded.",
    ]
    return Notice(
        subject=f"Training for '{target}' did not finish",
        body=_body(lines, dashboard_url, "Try again from your dashboard"),
        about=f"the training for '{target}'",
        ref_id=job_id,
    )


def score_sentence(report: ModelReport) -> str:
    """The dashboard's score sentence (frontend scoreSentence), so both say the same."""
    if report.task == "regression":
        off = _measure(report, "mae")
        if off is None:
            return ""
        return (
            f"Its guesses for '{report.target}' are typically off by about {_amount(off)}, "
            "judged on examples it had not seen while learning."
        )
    right = _measure(report, "accuracy")
    if right is None:
        return ""
    return (
        f"It was right {round(100 * right)} times out of 100 on examples it had not seen "
        "while learning."
    )


def _measure(report: ModelReport, name: str) -> float | None:
    value = report.metrics.get(name, report.score if report.score_name == name else None)
    return None if value is None else float(value)


def _body(lines: list[str], dashboard_url: str, action: str) -> str:
    if dashboard_url:
        lines = [*lines, "", f"{action}: {dashboard_url}"]
    return "\n".join([*lines, "", "-- ", FOOTER, ""])


def _amount(x: float) -> str:
    """Rounded like the trainer's summary: 12,345 / 12.3 / 0.012."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2g}"
