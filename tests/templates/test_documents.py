"""Proposals and contracts: figures from the priced version, the sandbox, and PDF output."""

from __future__ import annotations

import io
import logging
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.numbers import format_currency
from pypdf import PdfReader

from pricing import DealInput, PricedDeal, billing_schedule
from pricing.schedule import BillingSchedule, ScheduleItem
from templates.documents import (
    DOCUMENT_KINDS,
    MAX_TEMPLATE_CHARS,
    Acceptance,
    ApprovalRecord,
    DocumentKind,
    DocumentTooLarge,
    SlaClause,
    TemplateInvalid,
    builtin_source,
    contract_context,
    html_to_pdf,
    proposal_context,
    render_document,
    sample_context,
    validate_template,
)
from tests.pricing.builders import (
    custom_line,
    customer,
    deal,
    graduated,
    one_time,
    package,
    per_unit,
    price,
    recurring,
    sku_line,
    tier,
    volume,
)

GENERATED_AT = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)
SELLER = "Example Software Ltd."
APPROVALS = [
    ApprovalRecord(
        name="Dana Whitfield", role="sales_manager", decided_at=datetime(2027, 1, 14, 8, 0)
    ),
    ApprovalRecord(name="Felix Moreau", role="finance", decided_at=datetime(2027, 1, 15, 7, 45)),
]
ACCEPTANCE = Acceptance(
    name="Priya Raman",
    title="VP Operations",
    email="priya@northwind.example",
    accepted_at=datetime(2027, 2, 1, 16, 12, tzinfo=UTC),
)


# --- a small DOM over html.parser ------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            else:
                parts.append(" " if child.tag == "br" else child.text())
        return " ".join("".join(parts).split())

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def all(self, attr: str, value: str | None = None) -> list[Node]:
        return [
            n for n in self.walk() if attr in n.attrs and (value is None or n.attrs[attr] == value)
        ]

    def one(self, attr: str, value: str | None = None) -> Node:
        [node] = self.all(attr, value)
        return node

    def field(self, name: str) -> str:
        return self.one("data-field", name).text()


_VOID = {"br", "img", "meta", "link", "input", "hr", "col", "source", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self._open = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self._open)
        self._open.children.append(node)
        if tag not in _VOID:
            self._open = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self._open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self._open = node.parent

    def handle_data(self, data: str) -> None:
        self._open.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def usd(amount: Decimal) -> str:
    return format_currency(amount, "USD", locale="en_US")


# --- deals -------------------------------------------------------------------------------------


def mixed_deal(**overrides: Any) -> tuple[DealInput, PricedDeal]:
    """Catalog and custom lines over every charge model, a ramp, discounts of both kinds."""
    lines = [
        sku_line("PLAT-SEAT", "25", discount_pct="10"),
        sku_line("PLAT-ONBOARD", "1", discount_amount="1500"),
        custom_line(
            recurring("1000", ramp=[(13, "1100"), (25, "1250")]),
            one_time("500"),
            name="Ramped platform",
            quantity="2",
        ),
        custom_line(
            graduated(
                [tier("1000", "0"), tier("10000", "0.05", "10"), tier(None, "0.02")],
                "25000",
                minimum_commitment="100",
            ),
            name="Metered API",
        ),
        custom_line(volume([tier("10000", "0.05"), tier(None, "0.03")], "40000"), name="Messages"),
        custom_line(package("1000", "25", "4500", free_units="500"), name="Event packs"),
        custom_line(per_unit("0.10", "2000", free_units="100"), name="Storage GB"),
    ]
    body: dict[str, Any] = {
        "term_months": 36,
        "start_date": "2027-03-01",
        "billing_frequency": "quarterly",
        "payment_terms_days": 45,
        "header_discount_pct": "2.5",
        "nonstandard_terms": ["Renewal uplift capped at 5%."],
        **overrides,
    }
    return deal(*lines, **body), price(*lines, **body)


def proposal_html(
    deal_input: DealInput,
    priced: PricedDeal,
    *,
    valid_until: date | None = date(2027, 2, 14),
    approvals: list[ApprovalRecord] = APPROVALS,
) -> str:
    context = proposal_context(
        deal_id="D-1",
        version=2,
        deal=deal_input,
        priced=priced,
        approvals=approvals,
        valid_until=valid_until,
        generated_at=GENERATED_AT,
        seller=SELLER,
    )
    return render_document("proposal", context)


def contract_html(
    deal_input: DealInput,
    priced: PricedDeal,
    schedule: BillingSchedule | None = None,
    *,
    sla: list[SlaClause] | None = None,
) -> str:
    context = contract_context(
        deal_id="D-1",
        version=2,
        deal=deal_input,
        priced=priced,
        schedule=schedule or billing_schedule(deal_input, priced),
        approvals=APPROVALS,
        acceptance=ACCEPTANCE,
        sla_clauses=sla or [],
        generated_at=GENERATED_AT,
        seller=SELLER,
    )
    return render_document("contract", context)


# --- the proposal ----------------------------------------------------------------------------

TOTAL_FIGURES = [
    "one_time",
    "mrr",
    "arr",
    "acv",
    "recurring_tcv",
    "usage_committed_tcv",
    "usage_estimated_tcv",
    "tcv",
    "tcv_estimated",
    "list_tcv_estimated",
    "discount_amount",
]


def test_every_figure_is_the_priced_versions_formatted_by_babel() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced))

    for name in TOTAL_FIGURES:
        assert doc.one("data-figure", name).text() == usd(getattr(priced.totals, name)), name
    assert doc.one("data-figure", "discount_pct").text() == f"{priced.totals.discount_pct}%"
    rows = doc.all("data-line")
    assert [row.attrs["data-line"] for row in rows] == [str(i) for i in range(7)]
    for row, line in zip(rows, priced.lines, strict=True):
        assert row.field("name").startswith(line.name)
        assert row.field("net_amount") == usd(line.tcv_estimated)
        assert row.field("one_time") == usd(line.one_time)
        assert row.field("mrr") == usd(line.mrr)


def test_figures_are_never_repriced() -> None:
    deal_input, priced = mixed_deal()
    altered = priced.model_copy(
        update={
            "totals": priced.totals.model_copy(update={"tcv": Decimal("123456.78")}),
            "lines": [
                priced.lines[0].model_copy(update={"tcv_estimated": Decimal("42.00")}),
                *priced.lines[1:],
            ],
        }
    )

    html = proposal_html(deal_input, altered)
    doc = parse(html)

    assert doc.one("data-figure", "tcv").text() == "$123,456.78"
    assert doc.one("data-line", "0").field("net_amount") == "$42.00"
    assert usd(priced.totals.tcv) not in html


def test_money_follows_the_currencys_minor_units() -> None:
    lines = [custom_line(recurring("1234.5"), one_time("999.5"), name="Licence")]
    jpy_deal, jpy = deal(*lines, currency="JPY"), price(*lines, currency="JPY")

    doc = parse(proposal_html(jpy_deal, jpy))

    # 12 x 1,234.5 + 999.5 = 15,813.5 yen, which has no minor unit to show.
    assert jpy.totals.tcv == Decimal("15814")
    assert doc.one("data-figure", "tcv").text() == "¥15,814"
    assert doc.one("data-figure", "one_time").text() == "¥1,000"


def test_the_header_shows_who_what_and_until_when() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced))

    assert doc.field("seller") == SELLER
    assert doc.field("customer") == "Acme Corp"
    assert doc.field("deal_id") == "D-1"
    assert doc.field("version") == "2"
    assert doc.field("prepared_on") == "January 15, 2027"
    assert doc.field("valid_until") == "February 14, 2027"
    assert "enterprise · NA" in doc.text()
    assert doc.field("start_date") == "March 1, 2027"
    assert doc.field("term_months") == "36"
    assert "ending February 28, 2030" in doc.text()
    assert doc.field("payment_terms") == "Net 45 days from the invoice date"
    assert doc.field("billing_frequency").startswith("Quarterly in advance")
    assert doc.field("header_discount").startswith("2.50% on every line")


def test_without_a_date_the_proposal_is_valid_for_days_from_sending() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced, valid_until=None))

    assert doc.all("data-field", "valid_until") == []
    assert "valid for 30 days from the date it is sent" in doc.text()


def test_each_charge_is_described_in_words() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced))

    def charge(line: int, index: int = 0) -> str:
        return doc.one("data-charge", f"{line}-{index}").text()

    assert charge(0).startswith("Subscription. Recurring for the whole term of 36 months.")
    assert charge(1).startswith("One-time fee. Invoiced once")
    assert charge(2, 0).startswith("Subscription. Recurring; the price steps up")
    assert charge(2, 1).startswith("One-time fee.")
    assert charge(3).startswith("Usage, graduated tiers. Each tier's price applies")
    assert "estimated 25,000 billable units a month" in charge(3)
    assert charge(4).startswith("Usage, volume tiers. The month's total volume selects one tier")
    assert charge(5).startswith("Usage, in packages. Sold in whole packages")
    assert "4 package(s)" in charge(5)
    assert charge(6).startswith("Usage, per unit.")
    assert "1,900 billable units" in charge(6)
    # A line with two charges shows each charge's own net amount.
    two = priced.lines[2].breakdown
    assert doc.one("data-charge", "2-0").field("charge_net") == usd(two[0].net_amount)
    assert doc.one("data-charge", "2-1").field("charge_net") == usd(two[1].net_amount)


def test_line_discounts_show_as_given_and_with_the_header() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced))

    assert doc.one("data-line", "0").field("discount") == "10.00% 12.25% in all"
    assert doc.one("data-line", "1").field("discount").startswith("$1,500.00 off")
    assert doc.one("data-line", "3").field("discount") == "– 2.50% in all"


def test_graduated_tiers_and_ramp_years_are_tables() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced))

    tiers = doc.one("data-tiers", "3-0").all("data-tier")
    expected = priced.lines[3].breakdown[0].tiers
    assert len(tiers) == len(expected) == 3
    assert [t.field("range") for t in tiers] == [
        "up to 1,000",
        "above 1,000 up to 10,000",
        "above 10,000",
    ]
    assert [t.field("units") for t in tiers] == ["1,000", "9,000", "15,000"]
    assert [t.field("unit_price") for t in tiers] == ["$0.00", "$0.05", "$0.02"]
    assert [t.field("flat_fee") for t in tiers] == ["–", "$10.00", "–"]
    assert [t.field("amount") for t in tiers] == [usd(t.amount) for t in expected]
    # Volume: the one tier the month's volume selects.
    [volume_tier] = doc.one("data-tiers", "4-0").all("data-tier")
    assert volume_tier.field("range") == "above 10,000"
    ramps = doc.one("data-ramps", "2-0").all("data-ramp")
    assert [r.field("label") for r in ramps] == ["Year 1", "Year 2", "Year 3"]
    assert [r.field("months") for r in ramps] == ["1–12", "13–24", "25–36"]
    assert [r.field("monthly_amount") for r in ramps] == ["$2,000.00", "$2,200.00", "$2,500.00"]
    assert doc.all("data-tiers", "0-0") == []
    assert doc.all("data-ramps", "0-0") == []


def test_a_ramp_off_the_year_boundaries_is_labelled_by_months() -> None:
    lines = [custom_line(recurring("100", ramp=[(7, "120")]), name="Half-year step")]

    doc = parse(proposal_html(deal(*lines, term_months=18), price(*lines, term_months=18)))

    ramps = doc.one("data-ramps", "0-0").all("data-ramp")
    assert [r.field("label") for r in ramps] == ["Months 1–6", "Months 7–18"]


def test_special_terms_and_approvals_are_listed() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(proposal_html(deal_input, priced))

    assert doc.one("data-section", "nonstandard_terms").text() == "Renewal uplift capped at 5%."
    rows = doc.one("data-section", "approvals").all("data-approval")
    assert [(r.field("name"), r.field("role"), r.field("decided_at")) for r in rows] == [
        ("Dana Whitfield", "sales manager", "January 14, 2027, 08:00 UTC"),
        ("Felix Moreau", "finance", "January 15, 2027, 07:45 UTC"),
    ]


def test_a_standard_offer_says_so_and_has_no_special_terms() -> None:
    deal_input, priced = mixed_deal(nonstandard_terms=[])

    doc = parse(proposal_html(deal_input, priced, approvals=[]))

    assert doc.all("data-section", "nonstandard_terms") == []
    assert "pre-approved pricing" in doc.one("data-section", "approvals").text()


def _leaves(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield "", item
            yield from _leaves(item)


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_contexts_are_plain_data_without_internal_figures(kind: DocumentKind) -> None:
    context = sample_context(kind)

    plain = (dict, list, str, int, bool, Decimal, date, datetime, type(None))
    for key, value in _leaves(context):
        # bool and int are fine; float is never near money.
        assert isinstance(value, plain), (key, value)
        assert not isinstance(value, float), (key, value)
        assert key not in {"cost_tcv_estimated", "gross_margin", "gross_margin_pct", "cost"}
        assert key not in {"credit_rating", "competitor", "max_discount_pct", "below_floor"}
    for key in ("items", "keys", "values", "get", "update"):
        # A dict method would shadow such a key in a template (`schedule.items`).
        assert all(k != key for k, _ in _leaves(context))


def test_sample_context_is_a_fresh_copy() -> None:
    first = sample_context("proposal")
    first["deal"]["customer"]["name"] = "Changed"

    assert sample_context("proposal")["deal"]["customer"]["name"] == "Northwind Traders"


def test_a_priced_version_of_another_deal_is_refused() -> None:
    deal_input, _ = mixed_deal()
    _, other = mixed_deal(term_months=24)

    with pytest.raises(ValueError, match="not a pricing of this deal"):
        proposal_html(deal_input, other)


# --- the contract ----------------------------------------------------------------------------


def test_contract_schedule_rows_and_total_are_the_schedule_given() -> None:
    deal_input, priced = mixed_deal()
    schedule = billing_schedule(deal_input, priced)

    doc = parse(contract_html(deal_input, priced, schedule))

    rows = doc.one("data-section", "schedule").all("data-period")
    assert len(rows) == len(schedule.items) == 12
    for row, item in zip(rows, schedule.items, strict=True):
        assert row.field("period") == str(item.period)
        assert row.field("one_time") == usd(item.one_time)
        assert row.field("recurring") == usd(item.recurring)
        assert row.field("usage_committed") == usd(item.usage_committed)
        assert row.field("total") == usd(item.total)
    assert rows[0].field("starts_on") == "Mar 1, 2027"
    assert rows[-1].field("ends_on") == "Feb 28, 2030"
    assert doc.one("data-figure", "schedule_total").text() == usd(schedule.total)
    assert doc.one("data-figure", "tcv").text() == usd(priced.totals.tcv)


def _hand_schedule(priced: PricedDeal) -> BillingSchedule:
    """Two invoices that add up to the committed TCV, unlike anything billing_schedule makes."""
    first = priced.totals.one_time + Decimal("0.01")
    second = priced.totals.tcv - first
    zero = Decimal("0.00")
    return BillingSchedule(
        currency=priced.currency,
        billing_frequency="annual",
        items=[
            ScheduleItem(
                period=1,
                starts_on=date(2027, 1, 1),
                ends_on=date(2027, 12, 31),
                months=12,
                one_time=priced.totals.one_time,
                recurring=Decimal("0.01"),
                usage_committed=zero,
                total=first,
            ),
            ScheduleItem(
                period=2,
                starts_on=date(2028, 1, 1),
                ends_on=date(2028, 12, 31),
                months=12,
                one_time=zero,
                recurring=second,
                usage_committed=zero,
                total=second,
            ),
        ],
        total=priced.totals.tcv,
    )


def test_a_hand_built_schedule_is_printed_as_given() -> None:
    lines = [sku_line("PLAT-SEAT", "10"), sku_line("PLAT-ONBOARD")]
    deal_input = deal(*lines, term_months=24)
    priced = price(*lines, term_months=24)
    schedule = _hand_schedule(priced)

    doc = parse(contract_html(deal_input, priced, schedule))

    rows = doc.all("data-period")
    assert [r.field("total") for r in rows] == [usd(i.total) for i in schedule.items]
    assert [r.field("recurring") for r in rows] == ["$0.01", usd(schedule.items[1].recurring)]
    assert doc.one("data-figure", "schedule_total").text() == usd(priced.totals.tcv)


def test_a_schedule_that_disagrees_with_the_priced_deal_is_refused() -> None:
    lines = [sku_line("PLAT-SEAT", "10")]
    deal_input, priced = deal(*lines), price(*lines)
    schedule = billing_schedule(deal_input, priced)
    short = schedule.model_copy(update={"total": schedule.total - 1})
    euros = schedule.model_copy(update={"currency": "EUR"})

    with pytest.raises(ValueError, match="periods add up to"):
        contract_html(deal_input, priced, short)
    with pytest.raises(ValueError, match="in EUR"):
        contract_html(deal_input, priced, euros)
    off = schedule.model_copy(
        update={
            "items": [schedule.items[0].model_copy(update={"total": Decimal("1.00")})],
            "total": Decimal("1.00"),
        }
    )
    with pytest.raises(ValueError, match="committed TCV"):
        contract_html(deal_input, priced, off)


def test_a_schedule_a_minor_unit_off_the_tcv_is_the_contracts_committed_total() -> None:
    # pricing rounds the TCV once from the exact sum; the schedule adds up the rounded parts,
    # which can differ by a cent. The contract then states what is invoiced.
    lines = [sku_line("PLAT-SEAT", "10")]
    deal_input, priced = deal(*lines), price(*lines)
    schedule = billing_schedule(deal_input, priced)
    cent_off = priced.totals.model_copy(update={"tcv": schedule.total + Decimal("0.01")})
    rounded_apart = priced.model_copy(update={"totals": cent_off})

    doc = parse(contract_html(deal_input, rounded_apart, schedule))

    assert doc.one("data-figure", "tcv").text() == usd(schedule.total)
    assert doc.one("data-figure", "schedule_total").text() == usd(schedule.total)


@pytest.mark.parametrize(
    ("start", "term", "end"),
    [
        ("2027-01-01", 12, "December 31, 2027"),
        ("2027-03-15", 24, "March 14, 2029"),
        ("2028-02-29", 12, "February 27, 2029"),
        ("2027-01-31", 1, "February 27, 2027"),
    ],
)
def test_contract_end_date_is_start_plus_term_less_a_day(start: str, term: int, end: str) -> None:
    lines = [sku_line("PLAT-SEAT", "1")]
    deal_input = deal(*lines, start_date=start, term_months=term, billing_frequency="monthly")
    priced = price(*lines, start_date=start, term_months=term, billing_frequency="monthly")
    schedule = billing_schedule(deal_input, priced)

    doc = parse(contract_html(deal_input, priced, schedule))

    assert doc.one("data-figure", "end_date").text() == end
    assert doc.one("data-figure", "term_months").text() == str(term)
    # The same last day as the price schedule's last invoice.
    last = schedule.items[-1].ends_on
    assert doc.all("data-period")[-1].field("ends_on") == f"{last:%b} {last.day}, {last.year}"


def test_contract_sla_section_only_with_clauses() -> None:
    deal_input, priced = mixed_deal()
    clauses = [
        SlaClause(product="Platform seat", text="99.9% monthly uptime."),
        SlaClause(product="Premium support", text="<b>1 hour</b> first response."),
    ]

    with_sla = parse(contract_html(deal_input, priced, sla=clauses))
    without = contract_html(deal_input, priced, sla=[])

    rows = with_sla.one("data-section", "sla").all("data-sla")
    assert [(r.field("product"), r.field("text")) for r in rows] == [
        ("Platform seat.", "99.9% monthly uptime."),
        ("Premium support.", "<b>1 hour</b> first response."),
    ]
    assert 'data-section="sla"' not in without
    assert "Service levels" not in without


def test_contract_acceptance_approvals_and_parties() -> None:
    deal_input, priced = mixed_deal()

    doc = parse(contract_html(deal_input, priced))

    block = doc.one("data-section", "acceptance")
    assert block.field("accepted_by") == "Priya Raman"
    assert block.field("accepted_title") == "VP Operations"
    assert block.field("accepted_email") == "priya@northwind.example"
    assert block.field("accepted_at") == "February 1, 2027, 16:12 UTC"
    parties = doc.one("data-section", "parties")
    assert (parties.field("seller"), parties.field("customer")) == (SELLER, "Acme Corp")
    assert "Dana Whitfield (sales manager, January 14, 2027)" in doc.text()
    assert doc.one("data-figure", "start_date").text() == "March 1, 2027"
    assert [row.field("net_amount") for row in doc.all("data-line")] == [
        usd(line.tcv_estimated) for line in priced.lines
    ]


# --- markup in the deal ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_markup_in_the_deal_renders_as_text(kind: DocumentKind) -> None:
    script = "<script>alert(1)</script>"
    lines = [custom_line(recurring("10"), name=f"{script} line")]
    overrides: dict[str, Any] = {
        "customer": customer(name=script),
        "nonstandard_terms": [f'<img src=x onerror="{script}">'],
    }
    deal_input, priced = deal(*lines, **overrides), price(*lines, **overrides)

    if kind == "proposal":
        html = proposal_html(deal_input, priced)
    else:
        html = contract_html(deal_input, priced)

    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parse(html).one("data-field", "customer").text() == script


# --- admin templates and the sandbox ---------------------------------------------------------

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ request }}",
    "{{ request.application.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ namespace.__init__ }}",
    "{{ deal.__class__ }}",
    "{{ deal.__class__.__init__.__globals__ }}",
    "{{ deal|attr('__class__') }}",
    "{{ '{0.__class__.__mro__}'.format(deal) }}",
    "{{ totals.tcv.__class__.__mro__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ range.__globals__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ deal.update({'x': 1}) }}",
    "{{ lines.append(1) }}",
    '{% include "__init__.py" %}',
    '{% include "../pricing/__init__.py" %}',
    # These render, harmlessly.
    "{{ self }}",
    "{{ deal.items() }}",
    "{{ range(3) | list }}",
]
LEAKS = re.compile(r"subprocess|Popen|<class|__builtins__|<module|\bos\b|uid=")


def _refusal(kind: DocumentKind, source: str) -> TemplateInvalid | None:
    try:
        validate_template(kind, source)
    except TemplateInvalid as refused:
        return refused
    return None


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_template_injection_is_refused_or_inert(kind: DocumentKind, payload: str) -> None:
    source = f"<p>{{{{ deal.customer.name }}}}</p>\n{payload}\n"

    refused = _refusal(kind, source)

    if refused is not None:
        assert re.match(r"(not allowed|undefined|syntax error|no template named)", refused.message)
        assert refused.line in (2, 3)
    else:
        # Unescaped, so an escaped "&lt;class" counts as much as a raw one.
        text = unescape(render_document(kind, sample_context(kind), source=source))
        assert not LEAKS.search(text), text


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ("{{ deal.__class__ }}", "not allowed"),
        ("{{ config }}", "'config' is undefined"),
        ("{{ lipsum }}", "'lipsum' is undefined"),
        ("{{ cycler }}", "'cycler' is undefined"),
        ("{{ joiner }}", "'joiner' is undefined"),
        ("{{ namespace }}", "'namespace' is undefined"),
    ],
)
def test_refusals_name_the_problem(payload: str, says: str) -> None:
    with pytest.raises(TemplateInvalid) as refused:
        validate_template("proposal", payload)

    assert says in refused.value.message
    assert refused.value.line == 1


def test_an_undefined_field_fails_validation_naming_it_and_its_line() -> None:
    source = "<h1>{{ deal.customer.name }}</h1>\n<p>\n{{ deal.nope }}</p>"

    with pytest.raises(TemplateInvalid) as refused:
        validate_template("proposal", source)

    assert "nope" in refused.value.message
    assert refused.value.line == 3
    assert str(refused.value).startswith("line 3: ")


def test_both_sides_of_an_optional_part_are_validated() -> None:
    # The full sample has a validity date and approvals; the bare one has neither.
    validate_template("proposal", "{% if valid_until %}{{ valid_until | date }}{% endif %}")
    with pytest.raises(TemplateInvalid, match="nope"):
        validate_template("proposal", "{% if valid_until %}{{ deal.nope }}{% endif %}")
    with pytest.raises(TemplateInvalid, match="typo"):
        validate_template("proposal", "{% if not approvals %}{{ typo }}{% endif %}")
    with pytest.raises(TemplateInvalid, match="clause"):
        validate_template("contract", "{% if not sla_clauses %}{{ clause.text }}{% endif %}")


def test_a_syntax_error_reports_its_line() -> None:
    with pytest.raises(TemplateInvalid) as refused:
        validate_template("contract", "<p>one</p>\n<p>two</p>\n{% if %}\n")

    assert refused.value.line == 3
    assert refused.value.message.startswith("syntax error")


def test_template_size_is_limited() -> None:
    validate_template("proposal", "x" * MAX_TEMPLATE_CHARS)
    with pytest.raises(TemplateInvalid, match="200,000") as refused:
        validate_template("proposal", "x" * (MAX_TEMPLATE_CHARS + 1))
    assert refused.value.line is None
    with pytest.raises(TemplateInvalid, match="200,000"):
        render_document("proposal", sample_context("proposal"), source="x" * 200_001)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ 'x' * 100000000 }}", "repetition longer than"),
        ("{{ [1] * 100000000 }}", "repetition longer than"),
        ("{{ 10 ** 100000000 }}", "powers over 4,096 bits"),
        ("{{ (2 ** 4000) ** 4000 }}", "powers over 4,096 bits"),
        # Few, large chunks: past the output cap long before the time limit, however slow
        # the machine (100,000 small ones met the 2 s limit first on a loaded one).
        ("{% for i in range(40) %}{{ 'x' * 100000 }}{% endfor %}", "is over 2,097,152"),
        ("{{ 0.1 | money(currency) }}", "not 0.1"),
        ("{{ totals.tcv / 0 }}", "DivisionByZero"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
    ],
)
def test_resource_hungry_or_broken_templates_fail_validation(source: str, says: str) -> None:
    with pytest.raises(TemplateInvalid, match=re.escape(says)):
        validate_template("proposal", source)


def test_an_admin_template_renders_the_context() -> None:
    source = (
        "<p>{{ deal.customer.name }} owes {{ totals.tcv | money(currency) }} "
        "from {{ deal.start_date | date }} ({{ lines | length }} lines).</p>"
    )
    validate_template("proposal", source)
    deal_input, priced = mixed_deal()
    context = proposal_context(
        deal_id="D-1",
        version=1,
        deal=deal_input,
        priced=priced,
        approvals=[],
        valid_until=None,
        generated_at=GENERATED_AT,
        seller=SELLER,
    )

    html = render_document("proposal", context, source=source)

    assert html == f"<p>Acme Corp owes {usd(priced.totals.tcv)} from March 1, 2027 (7 lines).</p>"


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_shipped_templates_validate_and_render_the_same_as_their_source(
    kind: DocumentKind,
) -> None:
    source = builtin_source(kind)
    context = sample_context(kind)

    validate_template(kind, source)

    assert render_document(kind, context, source=source) == render_document(kind, context)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown document kind"):
        builtin_source("invoice")  # type: ignore[arg-type]


# --- PDF -------------------------------------------------------------------------------------


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_proposal_pdf_carries_the_figures() -> None:
    deal_input, priced = mixed_deal()

    pdf = html_to_pdf(proposal_html(deal_input, priced))

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert usd(priced.totals.tcv) in text
    assert "Acme Corp" in text
    assert re.search(r"Page 1 of \d", text)


def test_the_contract_pdf_carries_the_schedule_total() -> None:
    deal_input, priced = mixed_deal()
    schedule = billing_schedule(deal_input, priced)

    text = pdf_text(html_to_pdf(contract_html(deal_input, priced, schedule)))

    assert usd(schedule.total) in text
    assert "Priya Raman" in text


MARKER = "LEAKED-FROM-DISK-7f3a"


def _leaky_html(tmp_path: Path) -> str:
    css = tmp_path / "marker.css"
    css.write_text(f'body::after {{ content: "{MARKER}"; }}', encoding="utf-8")
    imported = tmp_path / "imported.css"
    imported.write_text(f'p::before {{ content: "{MARKER}-import"; }}', encoding="utf-8")
    return (
        "<html><head>"
        f'<link rel="stylesheet" href="{css.as_uri()}">'
        '<link rel="stylesheet" href="http://10.0.0.1/x.css">'
        f'<style>@import url("{imported.as_uri()}"); '
        'div { background: url("http://169.254.169.254/latest/meta-data/"); }</style>'
        "</head><body><p>Visible text</p>"
        '<img src="file:///etc/passwd"><div>box</div>'
        "</body></html>"
    )


def test_pdf_rendering_reads_no_file_and_no_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = _leaky_html(tmp_path)
    opened: list[str] = []
    real_open = urllib.request.OpenerDirector.open

    def spy(self: urllib.request.OpenerDirector, url: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(url if isinstance(url, str) else url.full_url)
        return real_open(self, url, *args, **kwargs)

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", spy)

    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = html_to_pdf(html)

    text = pdf_text(pdf)
    assert "Visible text" in text
    assert MARKER not in text
    assert opened == []
    refused = caplog.text.count("documents load no external resources")
    assert refused >= 4, caplog.text
    for url in ("http://10.0.0.1/x.css", "file:///etc/passwd", "http://169.254.169.254"):
        assert url in caplog.text


def test_the_leak_test_would_see_a_leak(tmp_path: Path) -> None:
    # The control: WeasyPrint's own fetcher reads the marker file into the PDF, so the test
    # above would fail if html_to_pdf fetched anything.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        from weasyprint import HTML  # type: ignore[import-untyped]

    css = tmp_path / "marker.css"
    css.write_text(f'body::after {{ content: "{MARKER}"; }}', encoding="utf-8")
    html = f'<link rel="stylesheet" href="{css.as_uri()}"><p>Visible text</p>'

    assert MARKER in pdf_text(HTML(string=html).write_pdf())


def test_a_data_uri_image_is_embedded() -> None:
    pixel = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
        "AAAABJRU5ErkJggg=="
    )
    html = f'<p>Logo</p><img src="data:image/png;base64,{pixel}" width="20" height="20">'

    reader = PdfReader(io.BytesIO(html_to_pdf(html)))

    assert len(reader.pages[0].images) == 1


def test_html_over_two_megabytes_is_refused() -> None:
    with pytest.raises(DocumentTooLarge, match="the limit is 2,097,152"):
        html_to_pdf("<p>" + "x" * (2 * 1024 * 1024) + "</p>")
