"""When a finished training gets an email.

At most one email per job: only the call that moved a job from waiting or running to succeeded
or failed asks for one (jobs.record_succeeded / record_failed answer True once, under the job's
row lock), only when email is set up and the saved settings want it, and it is sent after that
change is committed. A gateway stopped between the commit and the send loses that one email
rather than ever sending it twice. A mail server that fails never affects recording: the
activity feed says so.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.gateway.adapters.orm import JobRow, ModelRow
from services.gateway.domain import emails
from services.gateway.domain.emails import Notice
from services.gateway.domain.facts import EmailAttempted
from services.gateway.handlers import settings as user_settings
from services.gateway.settings import GatewaySettings


def for_success(session: Session, settings: GatewaySettings, model_id: str) -> Notice | None:
    model = session.get(ModelRow, model_id)
    if model is None or not wanted(session, settings):
        return None
    return emails.model_ready(model.id, model.card, settings.public_url)


def for_failure(session: Session, settings: GatewaySettings, job_id: str) -> Notice | None:
    job = session.get(JobRow, job_id)
    if job is None or not wanted(session, settings):
        return None
    return emails.training_failed(job.id, job.target, job.error, settings.public_url)


def wanted(session: Session, settings: GatewaySettings) -> bool:
    if not settings.email_enabled:
        return False
    return user_settings.load(session, settings.default_time_budget_s).notify_on_complete


def attempted(notice: Notice, failure: str | None) -> EmailAttempted:
    """The fact for the activity feed once an email was tried."""
    return EmailAttempted(about=notice.about, ref_id=notice.ref_id, failure=failure)
