"""Emails people when their training finishes, in plain words.

At most one email per job: only the call that moved a job from waiting or running to succeeded
or failed asks for one (jobs.record_succeeded / record_failed answer True once, under the
job's row lock), and it is sent after that change is committed. A gateway stopped between
the commit and the send loses that one email rather than ever sending it twice. A mail server
that fails never affects recording: it is logged and told in the activity feed.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from sqlalchemy.orm import Session

from services.gateway.adapters.database import Database
from services.gateway.adapters.orm import JobRow, ModelRow
from services.gateway.handlers import settings as user_settings
from services.gateway.handlers.activity import note
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

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


def model_ready(model: ModelRow, dashboard_url: str) -> Notice:
    lines = [
        f"Your model for '{model.target}' is ready.",
        "",
        f"How good it is: {LIGHT_WORDS.get(model.light, model.light)} {model.light_reason}".strip(),
        "",
        model.summary,
        score_sentence(model),
    ]
    return Notice(
        subject=f"Your model for '{model.target}' is ready",
        body=_body(lines, dashboard_url, "See it on your dashboard and switch it on"),
        about=f"the model for '{model.target}'",
        ref_id=model.id,
    )


def training_failed(job: JobRow, dashboard_url: str) -> Notice:
    lines = [
        f"Training for '{job.target}' did not finish.",
        "",
        job.error or "The reason was not recorded.",
    ]
    return Notice(
        subject=f"Training for '{job.target}' did not finish",
        body=_body(lines, dashboard_url, "Try again from your dashboard"),
        about=f"the training for '{job.target}'",
        ref_id=job.id,
    )


def score_sentence(model: ModelRow) -> str:
    """The dashboard's score sentence (frontend scoreSentence), so both say the same."""
    metrics = model.metrics or {}
    if model.task == "regression":
        off = metrics.get("mae", model.score if model.score_name == "mae" else None)
        if off is None:
            return ""
        return (
            f"Its guesses for '{model.target}' are typically off by about {_amount(off)}, "
            "judged on examples it had not seen while learning."
        )
    right = metrics.get("accuracy", model.score if model.score_name == "accuracy" else None)
    if right is None:
        return ""
    return (
        f"It was right {round(100 * right)} times out of 100 on examples it had not seen "
        "while learning."
    )


def _body(lines: list[str], dashboard_url: str, action: str) -> str:
    if dashboard_url:
        lines = [*lines, "", f"{action}: {dashboard_url}"]
    return "\n".join([*lines, "", "-- ", FOOTER, ""])


class Mailer:
    """Sends plain-text email through the configured SMTP server (blocking: run it in a thread)."""

    def __init__(self, settings: GatewaySettings):
        self._settings = settings

    @property
    def enabled(self) -> bool:
        return self._settings.email_enabled

    def send(self, subject: str, body: str) -> None:
        s = self._settings
        message = EmailMessage()
        message["Subject"], message["From"] = subject, s.smtp_sender
        message["To"] = ", ".join(s.notify_recipients)
        message["Date"] = formatdate()
        # An explicit domain: the default looks up this machine's name, which can hang on DNS.
        message["Message-ID"] = make_msgid(domain=_domain(s.smtp_sender))
        message.set_content(body)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)


class Notifier:
    """Decides inside a unit of work whether a finished job gets an email, and sends it later,
    in a task of its own, so a slow or broken mail server never holds up recording."""

    def __init__(self, settings: GatewaySettings, db: Database, mailer: Mailer | None = None):
        self._settings, self._db = settings, db
        self._mailer = mailer or Mailer(settings)
        self._sending: set[asyncio.Task[bool]] = set()

    def for_success(self, session: Session, model_id: str) -> Notice | None:
        model = session.get(ModelRow, model_id)
        if model is None or not self._wanted(session):
            return None
        return model_ready(model, self._settings.public_url)

    def for_failure(self, session: Session, job_id: str) -> Notice | None:
        job = session.get(JobRow, job_id)
        if job is None or not self._wanted(session):
            return None
        return training_failed(job, self._settings.public_url)

    def _wanted(self, session: Session) -> bool:
        if not self._mailer.enabled:
            return False
        saved = user_settings.load(session, self._settings.default_time_budget_s)
        return saved.notify_on_complete

    def submit(self, notice: Notice) -> None:
        """Send in the background (call on the event loop, after the commit)."""
        task = asyncio.create_task(self.deliver(notice), name="email")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def deliver(self, notice: Notice) -> bool:
        """Send one email and tell the activity feed how it went; never raises."""
        try:
            # The socket timeout bounds each step; this bounds the whole conversation.
            async with asyncio.timeout(self._settings.smtp_timeout_s * 3):
                await asyncio.to_thread(self._mailer.send, notice.subject, notice.body)
        except Exception as exc:
            log.warning("email could not be sent: %r", exc, extra={"ref_id": notice.ref_id})
            sent, message = False, f"The email about {notice.about} could not be sent: {why(exc)}"
        else:
            log.info("email sent", extra={"ref_id": notice.ref_id})
            sent, message = True, f"An email about {notice.about} was sent."
        try:
            await asyncio.to_thread(self._note, message, notice.ref_id)
        except Exception:
            log.exception("could not add the email's activity note")
        return sent

    def _note(self, message: str, ref_id: str) -> None:
        with self._db.unit_of_work() as session:
            note(session, "email", message, ref_id)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let emails on their way finish briefly, then give up on the rest."""
        pending = set(self._sending)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=grace_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


def why(exc: BaseException) -> str:
    """A mail failure in plain words; the log keeps the technical detail."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the mail server did not accept the user name or password."
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the address it was sent to."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "the mail server refused the sender address."
    if isinstance(exc, socket.gaierror):
        return "the mail server's name could not be found."
    if isinstance(exc, TimeoutError):
        return "the mail server did not answer in time."
    if isinstance(exc, ConnectionRefusedError):
        return "the mail server could not be reached."
    if isinstance(exc, ssl.SSLError | smtplib.SMTPNotSupportedError):
        return "a secure connection to the mail server could not be made."
    if isinstance(exc, OSError | smtplib.SMTPException):
        return "the connection to the mail server failed."
    return "something went wrong while sending it."


def _amount(x: float) -> str:
    """Rounded like the trainer's summary: 12,345 / 12.3 / 0.012."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2g}"


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"
