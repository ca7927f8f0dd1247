"""The e-mail events, rendered directly: the customer's proposal mail, the contract notice, and
the deal outcomes that close a deal."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from templates import TEMPLATE_DIR
from templates.email import (
    CONTEXT_MODELS,
    EMAIL_EVENTS,
    EmailEvent,
    ProposalSentContext,
    RenderedEmail,
    parse_context,
    render_email,
)

BASE_URL = "http://dealdesk.test"
NAMES = {"alice": "Alice Rep", "frank": "Frank CFO"}
LINK = "http://dealdesk.test/p/eyJhbGciOi.signed.token"


def _render(event: EmailEvent, context: dict[str, Any], *, to: str = "Alice Rep") -> RenderedEmail:
    return render_email(
        event,
        parse_context(event, {"customer": "Acme & Sons", **context}),
        deal_id="d-1",
        version=2,
        recipient_name=to,
        base_url=BASE_URL,
        names=NAMES,
    )


def _proposal_sent(**overrides: Any) -> dict[str, Any]:
    return {
        "seller": "Example Software Ltd.",
        "rep_name": "Alice Rep",
        "rep_email": "alice@example.com",
        "link": LINK,
        "valid_until": "2027-02-14",
        "currency": "EUR",
        "tcv": "84000.00",
        "acv": "28000",
        "message": None,
        **overrides,
    }


def _contract_ready(**overrides: Any) -> dict[str, Any]:
    return {
        "seller": "Example Software Ltd.",
        "contract_link": "http://dealdesk.test/p/tok/contract",
        "accepted_by": "Priya Raman",
        "accepted_title": "VP Operations",
        "accepted_at": "2027-02-01T16:12:00+00:00",
        **overrides,
    }


@pytest.mark.parametrize("event", EMAIL_EVENTS)
def test_every_event_has_a_model_and_its_three_templates(event: EmailEvent) -> None:
    assert event in CONTEXT_MODELS
    for suffix in ("subject.txt", "txt", "html.j2"):
        assert (TEMPLATE_DIR / "email" / f"{event}.{suffix}").is_file()


def test_proposal_sent_gives_the_customer_the_link_figures_and_date() -> None:
    mail = _render("proposal_sent", _proposal_sent(), to="priya@acme.example")

    assert mail.subject == "Your proposal from Example Software Ltd., valid until February 14, 2027"
    assert mail.text.startswith("Hello,\n\nAlice Rep at Example Software Ltd. has sent Acme & Sons")
    for says in (
        "Total contract value (committed): €84,000.00",
        "Annual contract value: €28,000.00",
        LINK,
        "The proposal is valid until February 14, 2027.",
        "Write to Alice Rep at alice@example.com.",
    ):
        assert says in mail.text
    assert mail.html is not None
    assert "<p>Hello,</p>" in mail.html
    assert f'<a href="{LINK}">' in mail.html
    assert "Acme &amp; Sons" in mail.html
    # Customer mail: nothing internal, not even a link into DealDesk's API.
    assert "/api/v1/" not in mail.text + mail.html
    assert "gross margin" not in (mail.text + mail.html).lower()


def test_proposal_sent_shows_the_reps_note_escaped_in_html() -> None:
    note = "Hi Priya,\nas discussed: <b>net 45</b>."

    mail = _render("proposal_sent", _proposal_sent(message=note, rep_email=None))

    assert note in mail.text
    assert "Contact Alice Rep at Example Software Ltd." in mail.text
    assert mail.html is not None
    assert "as discussed: &lt;b&gt;net 45&lt;/b&gt;." in mail.html


def test_a_proposal_mail_cannot_carry_internal_figures() -> None:
    with pytest.raises(ValidationError, match="gross_margin_pct"):
        parse_context(
            "proposal_sent",
            {"customer": "Acme", **_proposal_sent(), "gross_margin_pct": "42.5"},
        )
    assert "gross_margin_pct" not in ProposalSentContext.model_fields


def test_contract_ready_links_the_contract() -> None:
    mail = _render("contract_ready", _contract_ready())

    assert mail.subject == "Contract ready: Acme & Sons and Example Software Ltd."
    assert (
        "Priya Raman (VP Operations) accepted the proposal from Example Software Ltd. on behalf "
        "of Acme & Sons on 2027-02-01 16:12 UTC." in mail.text
    )
    assert "http://dealdesk.test/p/tok/contract" in mail.text
    assert mail.html is not None
    assert '<a href="http://dealdesk.test/p/tok/contract">' in mail.html


def test_contract_ready_without_a_link_names_the_deal() -> None:
    mail = _render(
        "contract_ready",
        _contract_ready(contract_link=None, accepted_title=None),
        to="priya@acme.example",
    )

    assert mail.text.startswith("Hello,\n")
    assert "Priya Raman accepted the proposal" in mail.text
    assert "Its reference is deal d-1, version 2." in mail.text


@pytest.mark.parametrize(
    ("context", "subject", "says", "never"),
    [
        (
            {"outcome": "expired", "comment": "the proposal expired without an answer"},
            "Expired: your deal for Acme & Sons",
            "has expired: the proposal expired without an answer. The deal is closed.",
            "Comment:",
        ),
        (
            {"outcome": "closed_won", "currency": "USD", "tcv": "132000"},
            "Won: Acme & Sons accepted your proposal",
            "Acme & Sons accepted your proposal (version 2). The deal is won",
            "Comment:",
        ),
        (
            {"outcome": "closed_lost", "comment": "Budget moved to next year."},
            "Lost: Acme & Sons declined your proposal",
            "declined your proposal (version 2). The deal is closed as lost.\n\n"
            "Their reason:\nBudget moved to next year.",
            "Comment:",
        ),
        (
            {"outcome": "rejected", "decided_by": "frank", "comment": "Margin too thin."},
            "Rejected: your deal for Acme & Sons",
            "was rejected by Frank CFO.\n\nComment:\nMargin too thin.",
            "Their reason:",
        ),
    ],
    ids=["expired", "closed_won", "closed_lost", "rejected"],
)
def test_deal_outcomes_are_worded_for_each_end(
    context: dict[str, Any], subject: str, says: str, never: str
) -> None:
    mail = _render("deal_outcome", context)

    assert mail.subject == subject
    assert says in mail.text
    assert never not in mail.text
    assert mail.text.startswith("Hello Alice Rep,\n")
    assert mail.html is not None
    assert "<p>Hello Alice Rep,</p>" in mail.html


def test_closed_lost_html_shows_the_customers_reason_escaped() -> None:
    mail = _render("deal_outcome", {"outcome": "closed_lost", "comment": "<i>too</i> pricey"})

    assert mail.html is not None
    assert "<strong>Their reason:</strong>" in mail.html
    assert "&lt;i&gt;too&lt;/i&gt; pricey" in mail.html


def test_closed_won_still_shows_the_figures() -> None:
    mail = _render("deal_outcome", {"outcome": "closed_won", "currency": "USD", "tcv": "132000"})

    assert "TCV: $132,000.00" in mail.text
