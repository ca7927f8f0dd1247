"""Proposal rendering throughput, in-process, on one core.

    .venv/bin/python bench/render.py [--n 500] [--pdf-n 20] [--json]

Renders the proposal of a priced 20-line, 36-month deal (every demo product twice, plus a
ramped and a graduated custom line) and prints proposals per second and the mean, median and
95th percentile milliseconds per proposal: building the context, rendering the HTML with the
shipped template in the sandbox, and laying the HTML out as a PDF. In the same run it measures
the baseline: a bare Jinja environment (autoescape, no sandbox) rendering a minimal page of the
same 20 lines (name, quantity, net amount) and the deal's TCV, to HTML and to PDF, so the ratio
is the cost of our template. It also renders the shipped template in a plain environment, which
isolates what the sandbox costs.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from pypdf import PdfReader

# Python puts the script's folder first on sys.path, where bench/pricing.py would shadow the
# pricing package; drop it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
# The repository root instead: the app's packages and bench.timing.
sys.path.insert(0, str(_HERE.parent))

from bench.timing import pin_to_one_core, timed  # noqa: E402
from pricing import DealInput, PricedDeal, demo_catalog, price_deal  # noqa: E402
from templates import FILTERS, TEMPLATE_DIR  # noqa: E402
from templates.documents import (  # noqa: E402
    ApprovalRecord,
    html_to_pdf,
    proposal_context,
    render_document,
)

MINIMAL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Proposal for {{ customer }}</title></head>
<body>
<h1>Proposal for {{ customer }}</h1>
<table>
<tr><th>Item</th><th>Quantity</th><th>Net over term</th></tr>
{% for line in lines %}
<tr><td>{{ line.name }}</td><td>{{ line.quantity }}</td>
<td>{{ line.net_amount | money(currency) }}</td></tr>
{% endfor %}
</table>
<p>Total contract value: {{ tcv | money(currency) }}</p>
</body></html>
"""


def twenty_line_deal() -> DealInput:
    lines: list[dict[str, Any]] = []
    for round_ in range(2):
        for i, product in enumerate(demo_catalog()):
            lines.append(
                {"sku": product.sku, "quantity": str(2 + i + 3 * round_), "discount_pct": str(i)}
            )
    lines.append(
        {
            "name": "Ramped licence",
            "quantity": "250",
            "discount_pct": "12.5",
            "charges": [
                {
                    "type": "recurring",
                    "unit_price": "50",
                    "ramp": [
                        {"from_month": 13, "unit_price": "55"},
                        {"from_month": 25, "unit_price": "60"},
                    ],
                }
            ],
        }
    )
    lines.append(
        {
            "name": "Transcoding minutes",
            "quantity": "1",
            "charges": [
                {
                    "type": "usage",
                    "model": "graduated",
                    "estimated_quantity": "320000",
                    "free_units": "1000",
                    "minimum_commitment": "1500",
                    "tiers": [
                        {"up_to": "10000", "unit_price": "0.02", "flat_fee": "25"},
                        {"up_to": "250000", "unit_price": "0.015"},
                        {"up_to": None, "unit_price": "0.01", "flat_fee": "100"},
                    ],
                }
            ],
        }
    )
    assert len(lines) == 20
    return DealInput.model_validate(
        {
            "currency": "USD",
            "term_months": 36,
            "start_date": "2027-01-01",
            "billing_frequency": "annual",
            "payment_terms_days": 45,
            "customer": {
                "name": "Bench Corp",
                "segment": "enterprise",
                "region": "EMEA",
                "new_customer": False,
                "credit_rating": "A",
            },
            "header_discount_pct": "4",
            "nonstandard_terms": ["Net 45 payment terms", "Renewal uplift capped at 5%"],
            "lines": lines,
        }
    )


def _context(deal: DealInput, priced: PricedDeal) -> dict[str, Any]:
    return proposal_context(
        deal_id="D-BENCH",
        version=1,
        deal=deal,
        priced=priced,
        approvals=[
            ApprovalRecord(
                name="Dana Whitfield",
                role="sales_manager",
                decided_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
            )
        ],
        valid_until=date(2027, 1, 31),
        generated_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        seller="Example Software Ltd.",
    )


def _bare_environment() -> Environment:
    env = Environment(autoescape=True, undefined=StrictUndefined)
    env.filters.update(FILTERS)
    return env


def _plain_environment() -> Environment:
    """Our template with our filters, outside the sandbox."""
    env = Environment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(FILTERS)
    return env


def _timed(run: Callable[[], object], n: int) -> dict[str, float]:
    return timed(run, n, warmup=max(3, n // 20), unit="ms")


def bench(n: int, pdf_n: int) -> dict[str, Any]:
    deal = twenty_line_deal()
    priced = price_deal(deal, {product.sku: product for product in demo_catalog()})
    context = _context(deal, priced)
    html = render_document("proposal", context)
    pdf = html_to_pdf(html)

    minimal = _bare_environment().from_string(MINIMAL_PAGE)
    minimal_context = {
        "customer": deal.customer.name,
        "currency": priced.currency,
        "tcv": priced.totals.tcv,
        "lines": [
            {"name": line.name, "quantity": line.quantity, "net_amount": line.tcv_estimated}
            for line in priced.lines
        ],
    }
    minimal_html = minimal.render(minimal_context)
    minimal_pdf = html_to_pdf(minimal_html)
    plain = _plain_environment().from_string(
        (TEMPLATE_DIR / "proposal.html.j2").read_text(encoding="utf-8")
    )
    # The sandbox must not change a character, or the comparison means nothing.
    assert plain.render(context) == html
    gc.collect()
    return {
        "deal": {"lines": len(deal.lines), "term_months": deal.term_months},
        "sizes": {
            "html_bytes": len(html.encode()),
            "pdf_bytes": len(pdf),
            "pdf_pages": len(PdfReader(io.BytesIO(pdf)).pages),
            "minimal_html_bytes": len(minimal_html.encode()),
            "minimal_pdf_bytes": len(minimal_pdf),
        },
        "context": _timed(lambda: _context(deal, priced), n),
        "html": _timed(lambda: render_document("proposal", context), n),
        "context_and_html": _timed(lambda: render_document("proposal", _context(deal, priced)), n),
        "html_plain_env": _timed(lambda: plain.render(context), n),
        "minimal_html": _timed(lambda: minimal.render(minimal_context), n),
        "pdf": _timed(lambda: html_to_pdf(render_document("proposal", context)), pdf_n),
        "minimal_pdf": _timed(lambda: html_to_pdf(minimal.render(minimal_context)), pdf_n),
    }


def _row(name: str, stats: dict[str, float]) -> str:
    return (
        f"{name:<50} {stats['per_second']:>10,.1f} {stats['mean_ms']:>9.2f}"
        f" {stats['median_ms']:>9.2f} {stats['p95_ms']:>9.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=500, help="renders per HTML measurement")
    parser.add_argument("--pdf-n", type=int, default=20, help="renders per PDF measurement")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    pinned = pin_to_one_core()
    results = bench(args.n, args.pdf_n)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    deal, sizes = results["deal"], results["sizes"]
    print(
        f"templates/ proposal, {deal['lines']}-line deal over {deal['term_months']} months;"
        f" Python {sys.version.split()[0]}, {pinned}"
    )
    print(
        f"HTML {sizes['html_bytes']:,} bytes, PDF {sizes['pdf_bytes']:,} bytes in"
        f" {sizes['pdf_pages']} pages; minimal page {sizes['minimal_html_bytes']:,} bytes,"
        f" PDF {sizes['minimal_pdf_bytes']:,} bytes"
    )
    print(f"{'':<50} {'per second':>10} {'mean ms':>9} {'median ms':>9} {'p95 ms':>9}")
    print(_row("proposal_context", results["context"]))
    print(_row("HTML: render_document (sandbox)", results["html"]))
    print(_row("HTML: proposal_context + render_document", results["context_and_html"]))
    print(_row("HTML: same template, plain Environment", results["html_plain_env"]))
    print(_row("baseline HTML: bare Jinja, minimal 20-line page", results["minimal_html"]))
    print(_row("PDF: render_document + html_to_pdf", results["pdf"]))
    print(_row("baseline PDF: minimal page + html_to_pdf", results["minimal_pdf"]))
    html_ratio = results["minimal_html"]["per_second"] / results["html"]["per_second"]
    pdf_ratio = results["minimal_pdf"]["per_second"] / results["pdf"]["per_second"]
    sandbox = results["html_plain_env"]["per_second"] / results["html"]["per_second"]
    print(
        f"our template costs {html_ratio:.1f}x the minimal page as HTML and {pdf_ratio:.1f}x"
        f" as PDF; the sandbox costs {sandbox:.2f}x a plain environment"
    )


if __name__ == "__main__":
    main()
