"""E-mail notifications: subject, plain text and HTML for each event.

HTML bodies render through the one environment of `templates` (autoescape on). Plain-text
subjects and bodies go through `text_environment()`, the only non-escaping environment: text
mail is not HTML, and escaping would show a customer "A&B" as "A&amp;B". Both are StrictUndefined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, get_args
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from pydantic import BaseModel, ConfigDict, Field

from templates import TEMPLATE_DIR, environment

EmailEvent = Literal[
    "task_opened",
    "task_reminder",
    "task_escalated",
    "escalation_notice",
    "deal_outcome",
    "proposal_sent",
    "contract_ready",
]
EMAIL_EVENTS: tuple[EmailEvent, ...] = get_args(EmailEvent)

DealOutcome = Literal[
    "approved",
    "rejected",
    "changes_requested",
    "policy_violation",
    "withdrawn",
    "expired",
    "closed_won",
    "closed_lost",
]


class _Context(BaseModel):
    # extra="forbid": a misspelt key from the workflow fails loudly instead of a blank line.
    model_config = ConfigDict(extra="forbid", frozen=True)

    customer: str


class _Figures(_Context):
    """Figures as Decimal strings ("84000.00", "42.50") or strings already formatted."""

    currency: str | None = None
    tcv: str | None = None
    gross_margin_pct: str | None = None
    discount_pct: str | None = None


class _TaskContext(_Figures):
    task_id: str
    stage: int
    role: str
    # ISO 8601 (naive means UTC) or text already formatted.
    due_at: str | None = None
    reasons: list[str] = Field(default_factory=list)


class TaskOpenedContext(_TaskContext):
    # Username of the approver who delegated this task to the recipient.
    delegated_from: str | None = None


class TaskReminderContext(_TaskContext):
    opened_at: str | None = None


class TaskEscalatedContext(_TaskContext):
    # Username of the approver the task was taken from.
    escalated_from: str
    opened_at: str | None = None
    # Why the recipient, e.g. "as Alice's manager"; a generic sentence when absent.
    escalation_reason: str | None = None


class EscalationNoticeContext(_Context):
    task_id: str
    stage: int
    role: str
    # Username of the new assignee.
    escalated_to: str


class DealOutcomeContext(_Figures):
    outcome: DealOutcome
    # An approver's comment; for "expired" why it expired, for "closed_lost" the customer's reason.
    comment: str | None = None
    # Username of whoever decided (an approver) or withdrew (the rep, an admin).
    decided_by: str | None = None
    # The reasons of a policy violation (or of a rejection, when the workflow has them).
    reasons: list[str] = Field(default_factory=list)


class ProposalSentContext(_Context):
    """To the customer's contact. Not a `_Figures`: margin and discount are internal, so the
    model has no field that could carry them to a customer."""

    seller: str
    rep_name: str
    rep_email: str | None = None
    # The signed acceptance URL.
    link: str
    # ISO 8601 date, or text already formatted.
    valid_until: str
    currency: str
    # Decimal strings ("84000.00") or text already formatted.
    tcv: str
    acv: str
    # The rep's own note to the customer, shown as written.
    message: str | None = None


class ContractReadyContext(_Context):
    """To the rep and the customer's contact: the order form exists after an acceptance."""

    seller: str
    # Where the contract can be read; without one the message names the deal instead.
    contract_link: str | None = None
    accepted_by: str
    accepted_title: str | None = None
    # ISO 8601 (naive means UTC) or text already formatted.
    accepted_at: str


EmailContext = (
    TaskOpenedContext
    | TaskReminderContext
    | TaskEscalatedContext
    | EscalationNoticeContext
    | DealOutcomeContext
    | ProposalSentContext
    | ContractReadyContext
)

CONTEXT_MODELS: dict[EmailEvent, type[EmailContext]] = {
    "task_opened": TaskOpenedContext,
    "task_reminder": TaskReminderContext,
    "task_escalated": TaskEscalatedContext,
    "escalation_notice": EscalationNoticeContext,
    "deal_outcome": DealOutcomeContext,
    "proposal_sent": ProposalSentContext,
    "contract_ready": ContractReadyContext,
}

# Context fields holding usernames; the renderer shows the person's name for each as `<field>_name`.
PERSON_FIELDS = ("delegated_from", "escalated_from", "escalated_to", "decided_by")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


def parse_context(event: EmailEvent, context: Mapping[str, Any]) -> EmailContext:
    """Validate a workflow's context dict for `event`; raises pydantic.ValidationError."""
    return CONTEXT_MODELS[event].model_validate(dict(context))


def people_in(context: EmailContext) -> list[str]:
    """The usernames a context mentions, whose display names the renderer wants."""
    return [v for f in PERSON_FIELDS if isinstance(v := getattr(context, f, None), str)]


@lru_cache(maxsize=1)
def text_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # The same money/percent/number formatting as documents, from the one environment.
    env.filters.update({n: environment().filters[n] for n in ("money", "percent", "number")})
    return env


def render_email(
    event: EmailEvent,
    context: EmailContext,
    *,
    deal_id: str,
    version: int,
    recipient_name: str,
    base_url: str,
    names: Mapping[str, str],
) -> RenderedEmail:
    """Render one message; `names` maps usernames to display names (missing ones show as is)."""
    if not isinstance(context, CONTEXT_MODELS[event]):
        raise TypeError(f"{event} needs {CONTEXT_MODELS[event].__name__}, not {type(context)}")
    variables = _variables(
        context,
        deal_id=deal_id,
        version=version,
        recipient_name=recipient_name,
        base_url=base_url,
        names=names,
    )
    text_env = text_environment()
    # Headers are one line: a newline in a customer name must not break or inject a header.
    subject_line = text_env.get_template(f"email/{event}.subject.txt").render(variables)
    subject = " ".join(subject_line.split())
    variables["subject"] = subject
    text = text_env.get_template(f"email/{event}.txt").render(variables)
    try:
        html_template = environment().get_template(f"email/{event}.html.j2")
    except TemplateNotFound:
        html = None
    else:
        html = html_template.render(variables)
    return RenderedEmail(subject=subject, text=text, html=html)


def _variables(
    context: EmailContext,
    *,
    deal_id: str,
    version: int,
    recipient_name: str,
    base_url: str,
    names: Mapping[str, str],
) -> dict[str, Any]:
    base = base_url.rstrip("/")
    variables: dict[str, Any] = dict(context)
    variables.update(
        deal_id=deal_id,
        version=version,
        recipient_name=recipient_name,
        deal_url=f"{base}/api/v1/deals/{quote(deal_id, safe='')}",
    )
    for field in PERSON_FIELDS:
        if field in variables:
            username = variables[field]
            variables[f"{field}_name"] = None if username is None else names.get(username, username)
    for field in ("due_at", "opened_at", "accepted_at"):
        if field in variables:
            variables[field] = _when(variables[field])
    if isinstance(context, ProposalSentContext):
        variables["valid_until"] = _day(context.valid_until)
        variables["tcv"] = _amount(context.tcv, context.currency)
        variables["acv"] = _amount(context.acv, context.currency)
    if isinstance(context, _TaskContext | EscalationNoticeContext):
        variables["task_url"] = f"{base}/api/v1/approvals/{quote(context.task_id, safe='')}"
    if isinstance(context, _Figures):
        variables["figures"] = _figures(context)
    return variables


def _figures(context: _Figures) -> list[tuple[str, str]]:
    """(label, formatted value) for each figure given, in reading order."""
    filters = environment().filters
    rows: list[tuple[str, str]] = []
    if context.tcv is not None:
        rows.append(("TCV", _amount(context.tcv, context.currency)))
    for label, value in (
        ("Gross margin", context.gross_margin_pct),
        ("Discount", context.discount_pct),
    ):
        if value is not None:
            pct = _decimal(value)
            rows.append((label, value if pct is None else filters["percent"](pct)))
    return rows


def _amount(value: str, currency: str | None) -> str:
    """A Decimal string as money (a number without a currency); other text as given."""
    amount = _decimal(value)
    if amount is None:
        return value
    filters = environment().filters
    return str(filters["money"](amount, currency) if currency else filters["number"](amount))


def _decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    # "NaN" and "Infinity" parse, but they are not figures anyone should read formatted.
    return number if number.is_finite() else None


_ISO_HINT = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _day(value: str) -> str:
    """An ISO date as "December 20, 2026"; other text as given."""
    if not _ISO_HINT.match(value):
        return value
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return value
    return str(environment().filters["date"](day))


def _when(value: str | None) -> str | None:
    if value is None or not _ISO_HINT.match(value):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
