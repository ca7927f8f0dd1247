"""The notify activity against a real database and, for delivery, a real SMTP server."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import (
    NotifyActivities,
    NotifyEvent,
    NotifyInput,
    NotifyResult,
    SmtpMailer,
    mailer_from_settings,
)
from dealdesk.links import ProposalLinks
from dealdesk.settings import Settings
from store import outbox
from store.db import SessionFactory
from store.outbox import OutboxMessage

BASE_URL = "http://dealdesk.test"
LINKS = ProposalLinks("a-test-secret-that-is-long-enough-for-hs256", BASE_URL)
DEAL_ID = "d-1"
TASK_ID = "5f2b7c9e-0000-4000-8000-000000000001"


def _input(
    event: NotifyEvent,
    *,
    recipients: list[str],
    context: dict[str, Any],
    key: str | None = None,
) -> NotifyInput:
    return NotifyInput(
        deal_id=DEAL_ID,
        version=2,
        key=key or f"task:{TASK_ID}:{event}",
        event=event,
        recipients=recipients,
        context={"customer": "Acme & Sons", **context},
    )


def _task(**extra: str | int | list[str] | None) -> dict[str, str | int | list[str] | None]:
    return {"task_id": TASK_ID, "stage": 2, "role": "finance", **extra}


def _run(activities: NotifyActivities, input: NotifyInput) -> NotifyResult:
    return ActivityEnvironment().run(activities.notify, input)


def _rows(sessions: SessionFactory, **filters: str) -> list[OutboxMessage]:
    with sessions() as session:
        return list(outbox.messages_for(session, **filters))


@pytest.fixture
def no_mail(seeded: SessionFactory) -> NotifyActivities:
    return NotifyActivities(seeded, None, BASE_URL, links=LINKS, seller="Acme Seller Inc.")


# Each row: the event, who gets it, its context, the subject, and what the text must say.
EVENT_CASES: list[tuple[NotifyEvent, str, dict[str, Any], str, list[str]]] = [
    (
        "task_opened",
        "carol",
        _task(
            reasons=["Discount 25.00% is above 20%", "Margin below 60%"],
            currency="EUR",
            tcv="84000.00",
            gross_margin_pct="42.5",
            discount_pct="25",
            due_at="2025-05-02T14:00:00+00:00",
        ),
        "Approval needed: Acme & Sons (stage 2, finance)",
        [
            "Hello Carol Finance,",
            "needs your approval as finance (stage 2)",
            "TCV: €84,000.00",
            "Gross margin: 42.50%",
            "Discount: 25.00%",
            "  - Discount 25.00% is above 20%",
            "  - Margin below 60%",
            "Please decide by 2025-05-02 14:00 UTC.",
            f"{BASE_URL}/api/v1/approvals/{TASK_ID}",
        ],
    ),
    (
        "task_reminder",
        "carol",
        _task(due_at="2025-05-02T14:00:00Z", opened_at="2025-05-01T14:00:00Z"),
        "Reminder: approval pending for Acme & Sons, due 2025-05-02 14:00 UTC",
        [
            "open since 2025-05-01 14:00 UTC",
            "If it is not decided by 2025-05-02 14:00 UTC, it will be escalated.",
            f"{BASE_URL}/api/v1/approvals/{TASK_ID}",
        ],
    ),
    (
        "task_escalated",
        "dave",
        _task(escalated_from="carol", escalation_reason="as Carol's manager", tcv="€1,000"),
        "Escalated to you: approval for Acme & Sons (stage 2, finance)",
        [
            "Hello Dave Sales VP,",
            "was escalated to you as Carol's manager: Carol Finance did not decide it in time",
            "TCV: €1,000",
            f"{BASE_URL}/api/v1/approvals/{TASK_ID}",
        ],
    ),
    (
        "escalation_notice",
        "carol",
        _task(escalated_to="dave"),
        "Your approval for Acme & Sons was escalated to Dave Sales VP",
        ["has been escalated to Dave Sales VP", f"{BASE_URL}/api/v1/approvals/{TASK_ID}"],
    ),
    (
        "deal_outcome",
        "alice",
        {"outcome": "approved", "currency": "USD", "tcv": "132000"},
        "Approved: your deal for Acme & Sons",
        ["Your deal for Acme & Sons (version 2) is approved.", "TCV: $132,000.00"],
    ),
    (
        "deal_outcome",
        "alice",
        {"outcome": "rejected", "decided_by": "frank", "comment": "Margin too thin."},
        "Rejected: your deal for Acme & Sons",
        ["was rejected by Frank CFO.", "Comment:\nMargin too thin."],
    ),
    (
        "deal_outcome",
        "alice",
        {"outcome": "changes_requested", "decided_by": "carol", "comment": "Net 30, please."},
        "Changes requested: your deal for Acme & Sons",
        ["Carol Finance asked for changes", "Comment:\nNet 30, please."],
    ),
    (
        "deal_outcome",
        "alice",
        {"outcome": "policy_violation", "reasons": ["Price below floor on SKU-1"]},
        "Policy violation: your deal for Acme & Sons",
        ["breaks a policy", "Policy violations:\n  - Price below floor on SKU-1"],
    ),
    (
        "deal_outcome",
        "alice",
        {"outcome": "withdrawn", "decided_by": "alice"},
        "Withdrawn: your deal for Acme & Sons",
        ["was withdrawn by Alice Rep; its open approvals are closed."],
    ),
]


@pytest.mark.parametrize(
    ("event", "recipient", "context", "subject", "says"),
    EVENT_CASES,
    ids=[f"{case[0]}-{case[2].get('outcome', '')}".rstrip("-") for case in EVENT_CASES],
)
def test_each_event_writes_a_rendered_message(
    no_mail: NotifyActivities,
    seeded: SessionFactory,
    event: NotifyEvent,
    recipient: str,
    context: dict[str, Any],
    subject: str,
    says: list[str],
) -> None:
    result = _run(no_mail, _input(event, recipients=[recipient], context=context))

    assert result == NotifyResult(written=1, sent=0)
    [row] = _rows(seeded, deal_id=DEAL_ID)
    assert (row.key, row.event, row.recipient) == (f"task:{TASK_ID}:{event}", event, recipient)
    assert row.email == f"{recipient}@example.com"
    assert row.subject == subject
    for text in says:
        assert text in row.body_text
    # Plain text is not HTML: the customer's ampersand stays as typed.
    assert "Acme & Sons" in row.body_text
    assert row.body_html is not None
    assert "Acme &amp; Sons" in row.body_html
    assert (row.sent_at, row.attempts, row.last_error) == (None, 0, None)


def test_same_key_twice_writes_nothing_new(
    no_mail: NotifyActivities, seeded: SessionFactory
) -> None:
    first = _input("task_opened", recipients=["carol", "dave"], context=_task())
    # A retry may carry a different rendering (say, a name changed); the first write stands.
    retry = _input("task_opened", recipients=["dave", "carol"], context=_task(role="cfo"))

    assert _run(no_mail, first) == NotifyResult(written=2, sent=0)
    assert _run(no_mail, retry) == NotifyResult(written=0, sent=0)

    rows = _rows(seeded, deal_id=DEAL_ID)
    assert [r.recipient for r in rows] == ["carol", "dave"]
    assert all("as finance" in r.body_text for r in rows)
    assert [r.recipient for r in _rows(seeded, recipient="dave")] == ["dave"]


def test_a_recipient_listed_twice_gets_one_message(
    no_mail: NotifyActivities, seeded: SessionFactory
) -> None:
    result = _run(no_mail, _input("task_opened", recipients=["carol", "carol"], context=_task()))

    assert result == NotifyResult(written=1, sent=0)


def test_unknown_recipient_is_skipped_with_a_warning(
    no_mail: NotifyActivities, seeded: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = _run(
            no_mail, _input("task_opened", recipients=["nobody", "carol"], context=_task())
        )

    assert result == NotifyResult(written=1, sent=0)
    assert [r.recipient for r in _rows(seeded, deal_id=DEAL_ID)] == ["carol"]
    assert "'nobody'" in caplog.text


def test_html_body_escapes_markup_in_the_customer_name(
    no_mail: NotifyActivities, seeded: SessionFactory
) -> None:
    context = _task(customer="<script>alert(1)</script> Ltd", reasons=["<b>deep</b> discount"])
    notify = _input("task_opened", recipients=["carol"], context=context)

    _run(no_mail, notify)

    [row] = _rows(seeded, deal_id=DEAL_ID)
    assert row.body_html is not None
    assert "<script>" not in row.body_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in row.body_html
    assert "&lt;b&gt;deep&lt;/b&gt; discount" in row.body_html
    assert row.subject == "Approval needed: <script>alert(1)</script> Ltd (stage 2, finance)"


def test_a_newline_in_the_customer_name_stays_out_of_the_subject_line(
    no_mail: NotifyActivities, seeded: SessionFactory
) -> None:
    _run(
        no_mail,
        _input("task_opened", recipients=["carol"], context=_task(customer="Acme\nBcc: x@y")),
    )

    [row] = _rows(seeded, deal_id=DEAL_ID)
    assert row.subject == "Approval needed: Acme Bcc: x@y (stage 2, finance)"


def test_a_context_the_template_cannot_use_fails_without_retry(
    no_mail: NotifyActivities, seeded: SessionFactory
) -> None:
    bad = _input(
        "task_opened",
        recipients=["carol"],
        context={"stage": 1, "role": "finance", "colour": "red"},
    )

    with pytest.raises(ApplicationError) as failure:
        _run(no_mail, bad)

    assert failure.value.type == "bad_notification"
    assert failure.value.non_retryable is True
    assert "task_id" in str(failure.value)
    assert "colour" in str(failure.value)
    assert _rows(seeded, deal_id=DEAL_ID) == []


def test_input_survives_the_data_converter() -> None:
    notify = _input("task_opened", recipients=["carol"], context=_task(reasons=["a"], due_at=None))
    converter = pydantic_data_converter.payload_converter

    [decoded] = converter.from_payloads(converter.to_payloads([notify]), [NotifyInput])

    assert decoded == notify
    assert decoded.context["stage"] == 2


def test_no_smtp_host_means_no_mailer(tmp_path: Any) -> None:
    assert mailer_from_settings(Settings(_env_file=None, data_dir=tmp_path)) is None
    mailer = mailer_from_settings(
        Settings(_env_file=None, data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=2525)
    )
    assert isinstance(mailer, SmtpMailer)


# --- delivery through a real SMTP server on 127.0.0.1 ---------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and refuses the addresses it is told to."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refuse: set[str] = set()
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_server(inbox: Inbox, port: int) -> Iterator[Controller]:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller
    controller.stop()


def _mailer(port: int, **options: Any) -> SmtpMailer:
    return SmtpMailer(
        host="127.0.0.1", port=port, sender="DealDesk <deals@dealdesk.test>", timeout=2, **options
    )


@pytest.mark.usefixtures("smtp_server")
def test_delivery_sends_each_message_exactly_once(
    seeded: SessionFactory, inbox: Inbox, port: int
) -> None:
    activities = NotifyActivities(
        seeded, _mailer(port), BASE_URL, links=LINKS, seller="Acme Seller Inc."
    )
    notify = _input(
        "task_opened", recipients=["carol", "dave"], context=_task(tcv="1000", currency="EUR")
    )

    first = _run(activities, notify)
    again = _run(activities, notify)

    assert first == NotifyResult(written=2, sent=2)
    assert again == NotifyResult(written=0, sent=0)
    assert sorted(m["To"] for m in inbox.received) == ["carol@example.com", "dave@example.com"]
    message = next(m for m in inbox.received if m["To"] == "carol@example.com")
    assert message["From"] == "DealDesk <deals@dealdesk.test>"
    assert message["Subject"] == "Approval needed: Acme & Sons (stage 2, finance)"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@dealdesk.test>")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "TCV: €1,000.00" in text.get_content()
    assert "Acme &amp; Sons" in html.get_content()
    rows = _rows(seeded, deal_id=DEAL_ID)
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    with seeded() as session:
        assert outbox.pending(session, limit=10) == []


def test_smtp_down_raises_records_the_attempt_and_a_retry_delivers(
    seeded: SessionFactory, inbox: Inbox, port: int
) -> None:
    # Nothing listens on `port` yet: the connection is refused.
    activities = NotifyActivities(
        seeded, _mailer(port), BASE_URL, links=LINKS, seller="Acme Seller Inc."
    )
    notify = _input(
        "deal_outcome", recipients=["alice"], key="v2:outcome", context={"outcome": "approved"}
    )

    with pytest.raises(ApplicationError) as failure:
        _run(activities, notify)

    assert failure.value.type == "smtp_unavailable"
    assert failure.value.non_retryable is False
    [row] = _rows(seeded, deal_id=DEAL_ID)
    assert (row.sent_at, row.attempts) == (None, 1)
    assert row.last_error is not None
    assert "ConnectionRefusedError" in row.last_error

    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        retried = _run(activities, notify)
    finally:
        controller.stop()

    assert retried == NotifyResult(written=0, sent=1)
    assert [m["Subject"] for m in inbox.received] == ["Approved: your deal for Acme & Sons"]
    [row] = _rows(seeded, deal_id=DEAL_ID)
    assert row.sent_at is not None
    assert row.attempts == 2


@pytest.mark.usefixtures("smtp_server")
def test_a_refused_recipient_fails_for_good_and_the_others_are_sent(
    seeded: SessionFactory, inbox: Inbox, port: int
) -> None:
    inbox.refuse.add("dave@example.com")
    activities = NotifyActivities(
        seeded, _mailer(port), BASE_URL, links=LINKS, seller="Acme Seller Inc."
    )

    with pytest.raises(ApplicationError) as failure:
        _run(activities, _input("task_opened", recipients=["carol", "dave"], context=_task()))

    assert failure.value.type == "smtp_rejected"
    assert failure.value.non_retryable is True
    assert [m["To"] for m in inbox.received] == ["carol@example.com"]
    by_recipient = {r.recipient: r for r in _rows(seeded, deal_id=DEAL_ID)}
    assert by_recipient["carol"].sent_at is not None
    assert by_recipient["dave"].sent_at is None
    assert "550" in (by_recipient["dave"].last_error or "")


def test_delivery_logs_in_when_credentials_are_configured(
    seeded: SessionFactory, inbox: Inbox, port: int
) -> None:
    # Plain-text AUTH is allowed here only because the server is on loopback inside the test.
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        activities = NotifyActivities(
            seeded,
            _mailer(port, username="mailer", password="s3cret"),
            BASE_URL,
            links=LINKS,
            seller="Acme Seller Inc.",
        )
        result = _run(activities, _input("task_opened", recipients=["carol"], context=_task()))
    finally:
        controller.stop()

    assert result == NotifyResult(written=1, sent=1)
    assert inbox.logins == [(b"mailer", b"s3cret")]
    assert len(inbox.received) == 1


def test_delivery_upgrades_to_tls_when_starttls_is_configured(
    seeded: SessionFactory, inbox: Inbox, port: int, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            *["req", "-x509", "-nodes", "-days", "1", "-newkey", "ec"],
            *["-pkeyopt", "ec_paramgen_curve:prime256v1"],
            *["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            *["-keyout", str(key), "-out", str(cert)],
        ],
        check=True,
        capture_output=True,
    )
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    # require_starttls: the server refuses MAIL before STARTTLS, so delivery proves the upgrade.
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True
    )
    controller.start()
    try:
        mailer = _mailer(
            port, starttls=True, ssl_context=ssl.create_default_context(cafile=str(cert))
        )
        activities = NotifyActivities(
            seeded, mailer, BASE_URL, links=LINKS, seller="Acme Seller Inc."
        )
        result = _run(activities, _input("task_opened", recipients=["carol"], context=_task()))
    finally:
        controller.stop()

    assert result == NotifyResult(written=1, sent=1)
    assert [m["To"] for m in inbox.received] == ["carol@example.com"]
