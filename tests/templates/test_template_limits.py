"""An admin's template: what it may not say is refused on save with its line, and what it may
not do (eat memory, loop for ever, print gigabytes) stops at render, quickly and cleanly."""

from __future__ import annotations

import time

import pytest
from jinja2.exceptions import SecurityError

import templates.documents as documents
from templates import RenderTimedOut
from templates.documents import (
    DocumentKind,
    DocumentTooLarge,
    TemplateInvalid,
    render_document,
    sample_context,
    validate_template,
)

HEAD = "<h1>{{ deal.customer.name }}</h1>\n<p>{{ totals.tcv | money(currency) }}</p>\n"


REFUSED = [
    ("{{ deal.customer.name | safe }}", "not allowed: the |safe filter"),
    ("{% filter safe %}{{ deal.customer.name }}{% endfilter %}", "the |safe filter"),
    ("{% set note | safe %}{{ deal.customer.name }}{% endset %}", "the |safe filter"),
    ("{{ deal | attr('customer') }}", "not allowed: the |attr filter"),
    ("{% autoescape false %}{{ deal.customer.name }}{% endautoescape %}", "autoescape off"),
    ("{% autoescape valid_until %}x{% endautoescape %}", "not allowed: turning autoescape"),
    # Branches the sample deals never take are checked too: the tree, not a render.
    ("{% if false %}{{ discount_reason }}{% endif %}", "'discount_reason' is undefined"),
    ("{% for l in lines if l.nope %}{{ costs }}{% endfor %}", "'costs' is undefined"),
]


@pytest.mark.parametrize(("payload", "says"), REFUSED)
@pytest.mark.parametrize("kind", ["proposal", "contract"])
def test_refused_constructs_are_named_with_their_line(
    kind: DocumentKind, payload: str, says: str
) -> None:
    with pytest.raises(TemplateInvalid) as refused:
        validate_template(kind, HEAD + payload)

    assert says in refused.value.message
    assert refused.value.line == 3


def test_what_a_template_may_use_still_validates() -> None:
    source = HEAD + (
        "{% autoescape true %}{{ deal.customer.name | e }}{% endautoescape %}\n"
        "{% set first = lines[0] %}{% for l in lines %}{{ loop.index }} {{ l.name }}{% endfor %}"
        "{% macro row(x) %}<td>{{ x }}</td>{% endmacro %}{{ row(first.name) }}"
        "{% for i in range(3) %}{{ i }}{% endfor %}{{ '%05.1f' % 3.14159 }}"
    )
    validate_template("proposal", source)


# (payload, what render_document raises, what it says). Each would hold a worker for minutes or
# take gigabytes without its bound; the bound stops it in well under a second or RENDER_SECONDS.
HUNGRY = [
    ("{{ 'a' * 10**8 }}", SecurityError, "repetition longer than 100,000"),
    ("{% for i in range(10**9) %}x{% endfor %}", SecurityError, "ranges over 100,000"),
    ("{{ '%100000000d' % 1 }}", SecurityError, "format widths over 100,000"),
    # Prints nothing, so only the clock stops it: 10**10 iterations.
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        RenderTimedOut,
        "takes over 0.5 s to render",
    ),
    # Fewer iterations than a loop's clock reads come (every 256), each slow (about 20 ms
    # here, 4 s in all): the clock between output chunks stops it.
    (
        "{% for i in range(200) %}{{ range(10000) | map('string') | join | length }}{% endfor %}",
        RenderTimedOut,
        "takes over 0.5 s to render",
    ),
    # 1.5 M characters but 3 MB of UTF-8: the cap counts bytes.
    (
        "{% for i in range(15) %}{{ '\u00e9' * 100000 }}{% endfor %}",
        DocumentTooLarge,
        "over 2,097,152 bytes",
    ),
]
# Limits checked between output chunks, outside the template's code, know no line.
NO_LINE = {HUNGRY[-2][0], HUNGRY[-1][0]}


@pytest.mark.parametrize(("payload", "error", "says"), HUNGRY)
def test_hungry_templates_fail_at_render_within_the_bounds(
    payload: str, error: type[Exception], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "RENDER_SECONDS", 0.5)
    started = time.monotonic()

    with pytest.raises(error, match=says):
        render_document("proposal", sample_context("proposal"), source=HEAD + payload)

    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(("payload", "error", "says"), HUNGRY)
def test_hungry_templates_are_refused_on_save(
    payload: str, error: type[Exception], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "RENDER_SECONDS", 0.5)

    with pytest.raises(TemplateInvalid) as refused:
        validate_template("proposal", HEAD + payload)

    assert says in refused.value.message
    assert refused.value.line == (None if payload in NO_LINE else 3)


def test_the_deadline_ends_with_the_render() -> None:
    """Outside a render no deadline is set, so the shipped pages' loops are never cut short."""
    render_document("proposal", sample_context("proposal"))
    from templates import render_deadline

    assert render_deadline.get() is None
