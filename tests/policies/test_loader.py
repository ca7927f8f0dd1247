"""Loading policies: every mistake is refused at load time, naming the rule, path and line."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from policies import PolicyError, PolicyIssue, default_policy_text, load_policy
from tests.policies.builders import policy_text, rule

HEADER = """\
version: 3
roles:
  finance: Finance
  deal_desk: Deal desk
rules:
"""


def one_rule(body: str) -> str:
    """HEADER plus one rule `r1` (from line 6) whose fields are `body` (indented 4)."""
    return HEADER + "  - id: r1\n    description: test\n" + body


def issues(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    return caught.value.errors


def only_issue(text: str) -> PolicyIssue:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


VALID_BODY = """\
    when: gross_margin_pct < 35
    stage: 1
    role: finance
    reason: "Margin {gross_margin_pct}%"
"""


def test_a_valid_rule_loads_with_its_fields() -> None:
    policy = load_policy(one_rule(VALID_BODY))

    assert policy.version == 3
    assert policy.fallback_role == "deal_desk"
    (r1,) = policy.rules
    assert (r1.id, r1.stage, r1.role, r1.mode, r1.quorum, r1.effect) == (
        "r1",
        1,
        "finance",
        "all",
        None,
        "approval",
    )
    assert r1.symbols == ("gross_margin_pct",)
    assert r1.when == "gross_margin_pct < 35"
    assert policy.sla.for_stage(1).remind_after == timedelta(hours=24)
    assert policy.sla.for_stage(1).escalate_after == timedelta(hours=48)


@pytest.mark.parametrize(
    ("body", "path", "line", "message"),
    [
        (
            VALID_BODY + "    whenn: tcv > 1\n",
            "rules[0].whenn",
            12,
            "unknown field 'whenn'; did you mean 'when'?",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "segment > 3"),
            "rules[0].when",
            8,
            "type mismatch: an operator is applied to values of different types (segment is text)",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "segment == 3"),
            "rules[0].when",
            8,
            "type mismatch: segment (text) compared with 3 (number)",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "gross_margni_pct < 35"),
            "rules[0].when",
            8,
            "unknown symbol 'gross_margni_pct'; did you mean 'gross_margin_pct'?",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "gross_margin_pct < 35 )"),
            "rules[0].when",
            8,
            "syntax error at ')' (column 23)",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "tcv"),
            "rules[0].when",
            8,
            "the condition is a number, not true or false",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "term_months and new_customer"),
            "rules[0].when",
            8,
            "type mismatch: term_months (number) used with 'and'; compare it with a value instead",
        ),
        (
            VALID_BODY.replace("gross_margin_pct < 35", "billing_frequency == 'monthyl'"),
            "rules[0].when",
            8,
            "billing_frequency is one of monthly, quarterly, annual, upfront; "
            "'monthyl' never matches",
        ),
        (
            VALID_BODY.replace("{gross_margin_pct}", "{gross_margni_pct}"),
            "rules[0].reason",
            11,
            "placeholder {gross_margni_pct} is not a fact; did you mean 'gross_margin_pct'?",
        ),
        (
            VALID_BODY.replace("{gross_margin_pct}", "{gross_margin_pct:q}"),
            "rules[0].reason",
            11,
            "placeholder {gross_margin_pct:q}: invalid format string",
        ),
        (
            VALID_BODY.replace("{gross_margin_pct}", "{}"),
            "rules[0].reason",
            11,
            "empty placeholder {}; name a fact, e.g. {tcv}",
        ),
        (
            VALID_BODY.replace("{gross_margin_pct}", "{tcv!r}"),
            "rules[0].reason",
            11,
            "placeholder {tcv!r}: conversions not allowed",
        ),
        (
            VALID_BODY.replace("role: finance", "role: financ"),
            "rules[0].role",
            10,
            "unknown role 'financ'; roles: finance, deal_desk",
        ),
        (
            VALID_BODY.replace("    role: finance\n", ""),
            "rules[0]",
            6,
            "an approval rule needs role",
        ),
        (
            VALID_BODY + "    effect: violation\n",
            "rules[0]",
            6,
            "a violation refuses the deal and routes it to nobody; remove stage, role",
        ),
        (
            VALID_BODY + "    mode: most\n",
            "rules[0].mode",
            12,
            "mode must be 'all', 'any' or {quorum: n}, not 'most'",
        ),
        (
            VALID_BODY + "    mode: {quorum: 0}\n",
            "rules[0].mode",
            12,
            "quorum must be a whole number >= 1, not 0",
        ),
        (
            VALID_BODY.replace("stage: 1", "stage: 0"),
            "rules[0].stage",
            9,
            "Input should be greater than or equal to 1",
        ),
        (
            VALID_BODY.replace("stage: 1", 'stage: "1"'),
            "rules[0].stage",
            9,
            "Input should be a valid integer",
        ),
        (
            VALID_BODY + "    limits: {segment: 3}\n",
            "rules[0].limits.segment",
            12,
            "'segment' is not a numeric fact",
        ),
        (
            VALID_BODY + "    limits: {line_count: 3}\n",
            "rules[0].limits.line_count",
            12,
            "'line_count' has no better or worse direction",
        ),
        (
            VALID_BODY + "    stage: 2\n",
            "rules[0].stage",
            12,
            "duplicate key 'stage'",
        ),
    ],
)
def test_rule_mistakes_are_refused_with_rule_id_path_and_line(
    body: str, path: str, line: int, message: str
) -> None:
    issue = only_issue(one_rule(body))

    assert issue == PolicyIssue(rule_id="r1", path=path, line=line, message=message)


def test_duplicate_rule_ids_name_both_places() -> None:
    text = one_rule(VALID_BODY) + "  - id: r1\n    description: again\n" + VALID_BODY

    issue = only_issue(text)

    assert issue == PolicyIssue(
        rule_id="r1",
        path="rules[1].id",
        line=12,
        message="duplicate rule id 'r1' (first at rules[0])",
    )


def test_bad_yaml_gives_the_line() -> None:
    issue = only_issue("version: 1\nroles: {finance: F\nrules: []\n")

    assert issue.rule_id is None
    assert issue.line == 3
    assert issue.message.startswith("bad YAML: ")


@pytest.mark.parametrize("text", ["", "   \n", "# nothing but a comment\n", "{}"])
def test_empty_policy_is_refused(text: str) -> None:
    assert only_issue(text) == PolicyIssue(rule_id=None, path="", line=None, message="empty policy")


def test_a_policy_without_rules_is_refused() -> None:
    issue = only_issue(HEADER + "  []\n")

    assert (issue.path, issue.message) == (
        "rules",
        "List should have at least 1 item after validation, not 0",
    )


def test_a_policy_that_is_not_a_mapping_is_refused() -> None:
    issue = only_issue("- just\n- a list\n")

    assert issue.message == "a policy is a mapping with version, roles and rules"


def test_unknown_top_level_field_and_missing_version() -> None:
    found = issues("roles: {deal_desk: D}\nrule: []\nrules: [{id: x}]\n")

    messages = {(i.path, i.message) for i in found}
    assert ("version", "missing required field 'version'") in messages
    assert ("rule", "unknown field 'rule'; did you mean 'rules'?") in messages


def test_every_issue_is_reported_at_once() -> None:
    text = policy_text(
        rule("a", "segment > 3"),
        rule("b", "tcv > 1", reason="{nope}"),
        rule("c", "tcv > 1", role="nobody"),
    )

    found = issues(text)

    assert [(i.rule_id, i.path) for i in found] == [
        ("a", "rules[0].when"),
        ("b", "rules[1].reason"),
        ("c", "rules[2].role"),
    ]


def test_fallback_role_must_be_a_role() -> None:
    text = policy_text(rule("a", "tcv > 1"), fallback_role="admins")

    issue = only_issue(text)

    assert (issue.path, issue.message) == (
        "fallback_role",
        "fallback role 'admins' is not in roles",
    )


@pytest.mark.parametrize(
    ("sla", "path", "message"),
    [
        (
            {"remind_after": "24h"},
            "sla.remind_after",
            "'24h' is not a duration; use ISO 8601 (PT24H, P2D, PT30S) or a number of seconds",
        ),
        (
            {"remind_after": "PT48H", "escalate_after": "PT24H"},
            "sla",
            "remind_after must come before escalate_after",
        ),
        (
            {"stages": {1: {"remind_after": "PT72H"}}},
            "sla",
            "stage 1: remind_after must come before escalate_after",
        ),
        ({"remind_after": 0}, "sla.remind_after", "must be longer than zero"),
        ({"stages": {4: {"remind_after": "PT1H"}}}, "sla.stages[4]", "no rule routes to stage 4"),
    ],
)
def test_sla_mistakes(sla: dict[str, object], path: str, message: str) -> None:
    issue = only_issue(policy_text(rule("a", "tcv > 1"), sla=sla))

    assert (issue.path, issue.message) == (path, message)


def test_sla_accepts_iso_durations_and_seconds_with_stage_overrides() -> None:
    sla = {"remind_after": 30, "escalate_after": "PT1M", "stages": {2: {"escalate_after": "P1D"}}}
    policy = load_policy(policy_text(rule("a", "tcv > 1"), rule("b", "tcv > 2", stage=2), sla=sla))

    assert policy.sla.for_stage(1).remind_after == timedelta(seconds=30)
    assert policy.sla.for_stage(1).escalate_after == timedelta(minutes=1)
    assert policy.sla.for_stage(2).remind_after == timedelta(seconds=30)
    assert policy.sla.for_stage(2).escalate_after == timedelta(days=1)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("all", ("all", None)), ("any", ("any", None)), ({"quorum": 2}, ("quorum", 2))],
)
def test_modes(mode: object, expected: tuple[str, int | None]) -> None:
    policy = load_policy(policy_text(rule("a", "tcv > 1", mode=mode)))

    assert (policy.rules[0].mode, policy.rules[0].quorum) == expected


def test_violation_rule_needs_no_route() -> None:
    policy = load_policy(
        policy_text(rule("v", "discount_pct > 50", stage=None, role=None, effect="violation"))
    )

    assert (policy.rules[0].effect, policy.rules[0].stage, policy.rules[0].role) == (
        "violation",
        None,
        None,
    )


def test_limits_are_decimal() -> None:
    policy = load_policy(policy_text(rule("a", "tcv > 1", limits={"discount_pct": 0.1})))

    assert policy.rules[0].limits == {"discount_pct": Decimal("0.1")}


@pytest.mark.parametrize(
    ("factor", "path", "message"),
    [
        (
            {"name": "loop", "weight": 10, "when": "risk_score > 50", "detail": "x"},
            "risk.factors[0].when",
            "risk factor 'loop': risk factors compute risk_score, so they cannot read it",
        ),
        (
            {"name": "f", "weight": 10, "when": "tcv > 1", "detail": "{risk_score}"},
            "risk.factors[0].detail",
            "risk factor 'f': risk factors compute risk_score, so they cannot read it",
        ),
        (
            {"name": "f", "weight": 10, "when": "segment < 1", "detail": "x"},
            "risk.factors[0].when",
            "risk factor 'f': type mismatch: an operator is applied to values of different "
            "types (segment is text)",
        ),
    ],
)
def test_risk_factor_mistakes(factor: dict[str, object], path: str, message: str) -> None:
    issue = only_issue(policy_text(rule("a", "tcv > 1"), risk={"factors": [factor]}))

    assert (issue.rule_id, issue.path, issue.message) == (None, path, message)


def test_risk_factor_weight_is_bounded_and_names_unique() -> None:
    factors = [
        {"name": "f", "weight": 101, "when": "tcv > 1", "detail": "x"},
    ]
    assert only_issue(policy_text(rule("a", "tcv > 1"), risk={"factors": factors})).path == (
        "risk.factors[0].weight"
    )
    factors = [
        {"name": "f", "weight": 1, "when": "tcv > 1", "detail": "x"},
        {"name": "f", "weight": 2, "when": "tcv > 2", "detail": "x"},
    ]
    issue = only_issue(policy_text(rule("a", "tcv > 1"), risk={"factors": factors}))
    assert (issue.path, issue.message) == ("risk.factors[1].name", "duplicate risk factor 'f'")


def test_policy_error_is_a_value_error_listing_issues() -> None:
    with pytest.raises(ValueError, match=r"invalid policy \(1 error\(s\)\):\n  line 8: rule 'r1'"):
        load_policy(one_rule(VALID_BODY.replace("< 35", "<")))


def test_loading_the_same_text_twice_reuses_the_compiled_policy() -> None:
    text = default_policy_text()

    assert load_policy(text) is load_policy(text)


def test_document_keeps_the_source_text() -> None:
    text = one_rule(VALID_BODY)

    assert load_policy(text).document == text


def test_asking_a_policy_for_an_unknown_rule_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        load_policy(one_rule(VALID_BODY)).rule("nope")
