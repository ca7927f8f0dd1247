"""Conditions and reason templates, below the loader."""

from __future__ import annotations

from decimal import Decimal

import pytest

from policies.expressions import ExpressionError, compile_condition, compile_template
from policies.facts import fact_values, rule_values
from tests.policies.builders import facts


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        ("gross_margin_pct < 35", ("gross_margin_pct",)),
        (
            "payment_terms_days > 60 or has_nonstandard_terms",
            ("has_nonstandard_terms", "payment_terms_days"),
        ),
        ("segment == 'enterprise' and region in ['NA', 'EU']", ("region", "segment")),
        ("'Net 90' in nonstandard_terms", ("nonstandard_terms",)),
        ("credit_rating.as_upper =~ '^B'", ("credit_rating",)),
        ("true", ()),
    ],
)
def test_condition_records_the_facts_it_names(text: str, symbols: tuple[str, ...]) -> None:
    assert compile_condition(text).symbols == symbols


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("term_months == 36", {"term_months": 36}, True),
        ("term_months >= 36.0", {"term_months": 36}, True),
        ("payment_terms_days > 60", {"payment_terms_days": 61}, True),
        ("gross_margin_pct < 35", {"gross_margin_pct": "34.999"}, True),
        ("gross_margin_pct < 35", {"gross_margin_pct": "35.000"}, False),
        ("tcv / line_count > 100000", {"tcv": "300000", "line_count": 2}, True),
        ("'Net 90' in nonstandard_terms", {"nonstandard_terms": ("Net 90",)}, True),
        ("nonstandard_terms.length > 1", {"nonstandard_terms": ("Net 90",)}, False),
        ("not competitor_named", {"competitor_named": False}, True),
    ],
)
def test_conditions_compare_exact_decimals_and_integers(
    text: str, overrides: dict[str, object], expected: bool
) -> None:
    values = rule_values(fact_values(facts(**overrides)))

    assert compile_condition(text).matches(values) is expected


def test_integers_reach_rule_engine_as_decimals() -> None:
    values = rule_values(fact_values(facts(term_months=24, new_customer=True)))

    assert values["term_months"] == Decimal(24)
    assert type(values["term_months"]) is Decimal
    assert values["new_customer"] is True


@pytest.mark.parametrize(
    ("template", "overrides", "text"),
    [
        ("Margin {gross_margin_pct}%", {"gross_margin_pct": "28.40"}, "Margin 28.4%"),
        ("Margin {gross_margin_pct}%", {"gross_margin_pct": "35.00"}, "Margin 35%"),
        ("Margin {gross_margin_pct}%", {"gross_margin_pct": "-3.456"}, "Margin -3.46%"),
        ("Margin {gross_margin_pct:.2f}%", {"gross_margin_pct": "28.4"}, "Margin 28.40%"),
        ("TCV {tcv}", {"tcv": "1250000.00"}, "TCV 1,250,000"),
        ("TCV {tcv}", {"tcv": "1250000.5"}, "TCV 1,250,000.50"),
        ("TCV {tcv:f}", {"tcv": "1250000.50"}, "TCV 1250000.50"),
        ("{term_months} months", {"term_months": 36}, "36 months"),
        ("{term_months:03d} months", {"term_months": 6}, "006 months"),
        ("New: {new_customer}", {"new_customer": True}, "New: yes"),
        ("Terms: {nonstandard_terms}", {"nonstandard_terms": ()}, "Terms: none"),
        ("{segment}/{region}", {}, "enterprise/NA"),
        ("{{literal}} braces", {}, "{literal} braces"),
    ],
)
def test_reason_rendering(template: str, overrides: dict[str, object], text: str) -> None:
    assert compile_template(template).render(fact_values(facts(**overrides))) == text


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{tcv.real}", "placeholder {tcv.real} is not a fact"),
        ("{0}", "placeholder {0} is not a fact"),
        ("{tcv:{width}}", "placeholder {tcv}: nested placeholders not allowed"),
        ("{tcv", "bad template: expected '}' before end of string"),
        ("{segment:.2f}", "placeholder {segment:.2f}: Unknown format code 'f'"),
    ],
)
def test_template_mistakes(template: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_template(template)

    assert str(caught.value).startswith(message)


def test_not_on_a_number_is_refused() -> None:
    with pytest.raises(ExpressionError, match=r"'not' applied to tcv \(number\)"):
        compile_condition("not tcv")


@pytest.mark.parametrize(
    "text",
    [
        "nonstandard_terms == []",
        "billing_frequency in ['monthly', 'quarterly']",
        "[segment, region] == ['enterprise', 'NA']",
        "new_customer == true",
        "nonstandard_terms.length == 0",
    ],
)
def test_well_typed_conditions_compile(text: str) -> None:
    assert compile_condition(text).text == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segment != null", "segment (text) is never null"),
        ("null == tcv", "tcv (number) is never null"),
        (
            "nonstandard_terms == [1]",
            "type mismatch: nonstandard_terms (list of text) compared with "
            "a list literal (list of number)",
        ),
        (
            "billing_frequency in ['monthly', 'yearly']",
            "billing_frequency is one of monthly, quarterly, annual, upfront; "
            "'yearly' never matches",
        ),
        (
            "nonstandard_terms and tcv > 0",
            "type mismatch: nonstandard_terms (list of text) used with 'and'; "
            "compare it with a value instead",
        ),
    ],
)
def test_conditions_that_can_never_mean_what_they_say(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(text)

    assert str(caught.value) == message
