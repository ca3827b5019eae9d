"""Sending email through the configured SMTP server, in the background: a slow or broken mail
server never holds up recording, and its failure is said in plain words."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from services.gateway.domain.emails import Notice
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
OnSent = Callable[[Notice, str | None], Awaitable[None]]
"""Told after each try: the notice, and why it failed in plain words (None: it was sent)."""


class Mailer:
    """Sends plain-text email (blocking: run it in a thread)."""

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


class EmailSender:
    """Sends each notice in a task of its own and tells `on_sent` how it went."""

    def __init__(self, mailer: Mailer, timeout_s: float, on_sent: OnSent):
        self._mailer, self._timeout_s, self._on_sent = mailer, timeout_s, on_sent
        self._sending: set[asyncio.Task[bool]] = set()

    @property
    def enabled(self) -> bool:
        return self._mailer.enabled

    def submit(self, notice: Notice) -> None:
        """Send in the background (call on the event loop, after the commit)."""
        task = asyncio.create_task(self.deliver(notice), name="email")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def deliver(self, notice: Notice) -> bool:
        """Send one email and tell how it went; never raises."""
        failure = None
        try:
            # The socket timeout bounds each step; this bounds the whole conversation.
            async with asyncio.timeout(self._timeout_s * 3):
                await asyncio.to_thread(self._mailer.send, notice.subject, notice.body)
        except Exception as exc:
            log.warning("email could not be sent: %r", exc, extra={"ref_id": notice.ref_id})
            failure = why(exc)
        else:
            log.info("email sent", extra={"ref_id": notice.ref_id})
        try:
            await self._on_sent(notice, failure)
        except Exception:
            log.exception("could not tell how the email went")
        return failure is None

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


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"
