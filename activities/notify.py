"""The notify activity: render an event's e-mail per recipient into the outbox, then deliver it.

Writing and sending are two steps with a commit between them: the outbox row exists before
any SMTP traffic, and each message is marked sent in its own commit right after the server
accepts it, so a retried activity skips what already went out. The one window left is a crash
between the server's acceptance and that commit; the message then goes out again on retry,
with the same Message-ID, which lets mail clients fold the duplicate.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from dealdesk.links import ProposalLinks
from dealdesk.settings import Settings
from pricing import PricedDeal
from store import deals, outbox, users
from store.db import SessionFactory, transaction
from templates.email import (
    CONTEXT_MODELS,
    EmailEvent,
    parse_context,
    people_in,
    render_email,
)

NotifyEvent = EmailEvent

# One event rarely has more than a handful of recipients; the bound only guards a runaway key.
_MAX_PER_KEY = 500


class NotifyInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deal_id: str
    version: int
    # Idempotency key of the event, e.g. "task:<task id>:opened"; one message per recipient.
    key: str
    event: NotifyEvent
    recipients: list[str]
    # Validated per event by the models in templates.email (TaskOpenedContext, ...).
    context: dict[str, str | int | list[str] | None]
    # People outside DealDesk (the customer's contact), by e-mail address.
    addresses: list[str] = Field(default_factory=list, max_length=20)
    # Set for the customer's proposal e-mail: the activity mints the signed acceptance link
    # valid until then and adds the deal's figures, so no token enters workflow history.
    link_valid_until: datetime | None = None


class NotifyResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    written: int
    sent: int


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    body_text: str
    body_html: str | None
    # Stable across retries (derived from key and recipient): the Message-ID's local part.
    ref: str


class DeliveryError(Exception):
    """A message was not accepted. `permanent`: the server refused it (5xx); retrying won't help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> None:
        """Deliver one message or raise DeliveryError."""
        ...


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "dealdesk.localhost"

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        if not settings.smtp_host:
            raise ValueError("DEALDESK_SMTP_HOST is not set")
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout.total_seconds(),
        )

    def build(self, email: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = f"<{email.ref}@{self._domain}>"
        # RFC 3834: tells out-of-office responders not to answer a machine.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(email.body_text)
        if email.body_html is not None:
            message.add_alternative(email.body_html, subtype="html")
        return message

    def send(self, email: OutgoingEmail) -> None:
        message = self.build(email)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            raise DeliveryError(
                f"recipient refused: {err.recipients}", permanent=all(c >= 500 for c in codes)
            ) from err
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
            raise DeliveryError(
                f"{type(err).__name__}: {err.smtp_code} {err.smtp_error!r}",
                permanent=err.smtp_code >= 500,
            ) from err
        # Everything else (connection refused or lost, timeouts, TLS, authentication) is about
        # the server or our settings, not this message: worth retrying once it is fixed.
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"{type(err).__name__}: {err}", permanent=False) from err


def mailer_from_settings(settings: Settings) -> SmtpMailer | None:
    """None when no SMTP host is configured: messages then stay in the outbox only."""
    return SmtpMailer.from_settings(settings) if settings.smtp_host else None


class NotifyActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        mailer: Mailer | None,
        base_url: str,
        *,
        links: ProposalLinks,
        seller: str,
    ) -> None:
        self._sessions = sessions
        self._mailer = mailer
        self._base_url = base_url
        self._links = links
        self._seller = seller

    def all(self) -> list[Callable[..., Any]]:
        return [self.notify]

    @activity.defn
    def notify(self, input: NotifyInput) -> NotifyResult:
        event = input.event
        raw_context = dict(input.context)
        # The workflow does not know the seller's name; it is this deployment's setting.
        if "seller" in CONTEXT_MODELS[event].model_fields:
            raw_context.setdefault("seller", self._seller)
        if input.link_valid_until is not None:
            raw_context |= self._proposal_facts(input, input.link_valid_until)
        try:
            context = parse_context(event, raw_context)
        except ValidationError as err:
            # A workflow bug; retrying the same input cannot fix it.
            raise ApplicationError(
                f"bad context for {event}: {err}", type="bad_notification", non_retryable=True
            ) from err
        written = 0
        now = datetime.now(UTC)
        with transaction(self._sessions) as session:
            names: dict[str, str] = {}
            for username in people_in(context):
                person = users.get_user(session, username=username)
                names[username] = person.full_name if person is not None else username
            # (outbox recipient, address, display name); dict.fromkeys: the same person twice
            # is one recipient, in the order given.
            targets: list[tuple[str, str, str]] = []
            for username in dict.fromkeys(input.recipients):
                user = users.get_user(session, username=username)
                if user is None or not user.email:
                    # A notification must never stall a deal: log it and go on.
                    activity.logger.warning(
                        "notify %s (%s): no user or e-mail for %r, skipped",
                        input.key,
                        event,
                        username,
                    )
                    continue
                targets.append((username, user.email, user.full_name))
            targets += [(f"mailto:{a}", a, a) for a in dict.fromkeys(input.addresses)]
            for recipient, address, display_name in targets:
                rendered = render_email(
                    event,
                    context,
                    deal_id=input.deal_id,
                    version=input.version,
                    recipient_name=display_name,
                    base_url=self._base_url,
                    names=names,
                )
                if outbox.enqueue(
                    session,
                    key=input.key,
                    deal_id=input.deal_id,
                    event=event,
                    recipient=recipient,
                    email=address,
                    subject=rendered.subject,
                    body_text=rendered.text,
                    body_html=rendered.html,
                    at=now,
                ):
                    written += 1
        sent = 0 if self._mailer is None else self._deliver(self._mailer, input.key)
        return NotifyResult(written=written, sent=sent)

    def _proposal_facts(self, input: NotifyInput, valid_until: datetime) -> dict[str, str | None]:
        """What the customer's proposal e-mail says, read from the stored version."""
        with self._sessions() as session:
            deal = deals.get_deal(session, deal_id=input.deal_id)
            row = deals.get_version(session, deal_id=input.deal_id, version=input.version)
            if deal is None or row is None or row.priced is None:
                raise ApplicationError(
                    f"deal {input.deal_id} v{input.version} is not priced",
                    type="bad_notification",
                    non_retryable=True,
                )
            rep = users.get_user(session, username=deal.owner)
            totals = PricedDeal.model_validate(row.priced).totals
        return {
            "customer": deal.customer_name,
            "seller": self._seller,
            "rep_name": rep.full_name if rep is not None else deal.owner,
            "rep_email": rep.email if rep is not None else None,
            "link": self._links.url(
                deal_id=input.deal_id, version=input.version, expires_at=valid_until
            ),
            "valid_until": valid_until.date().isoformat(),
            "currency": deal.currency,
            "tcv": str(totals.tcv),
            "acv": str(totals.acv),
        }

    def _deliver(self, mailer: Mailer, key: str) -> int:
        """Send this key's unsent messages; raise after trying them all if any failed."""
        with self._sessions() as session:
            rows = outbox.pending(session, limit=_MAX_PER_KEY, key=key)
        sent = 0
        failures: list[DeliveryError] = []
        for row in rows:
            assert row.id is not None
            email = OutgoingEmail(
                to=row.email,
                subject=row.subject,
                body_text=row.body_text,
                body_html=row.body_html,
                ref=_message_ref(row.key, row.recipient),
            )
            try:
                mailer.send(email)
            except DeliveryError as err:
                with transaction(self._sessions) as session:
                    outbox.mark_failed(session, message_id=row.id, error=str(err))
                failures.append(err)
                continue
            # Commit per message: a later failure must not undo the record of this one.
            with transaction(self._sessions) as session:
                if outbox.mark_sent(session, message_id=row.id, at=datetime.now(UTC)):
                    sent += 1
        if failures:
            permanent = all(f.permanent for f in failures)
            # Retryable by default so an SMTP outage only delays mail; a message the server
            # refused outright would be refused again, so that failure is final.
            raise ApplicationError(
                f"{len(failures)} of {len(rows)} message(s) for {key} not delivered: {failures[0]}",
                type="smtp_rejected" if permanent else "smtp_unavailable",
                non_retryable=permanent,
            )
        return sent


def _message_ref(key: str, recipient: str) -> str:
    digest = hashlib.sha256(f"{key}\n{recipient}".encode()).hexdigest()[:32]
    return f"dealdesk.{digest}"
