"""Approver resolution: roles, delegation windows, the submitter, the fallback role."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from policies import Directory, DirectoryUser, NoApproverError, PlanApprover
from tests.policies.builders import AT, SUBMITTER, delegation, directory, user


def names(approvers: list[PlanApprover]) -> list[tuple[str, str, str | None]]:
    return [(a.username, a.role, a.delegated_from) for a in approvers]


Row = tuple[str, str, str | None]


def resolve(d: Directory, role: str, *, submitter: str = SUBMITTER, at: datetime = AT) -> list[Row]:
    return names(d.resolve(role, fallback_role="deal_desk", submitter=submitter, at=at))


def test_a_role_resolves_to_its_active_users_sorted() -> None:
    d = directory(
        [
            user("zoe", "finance"),
            user("carol", "finance"),
            user("old", "finance", active=False),
            user("admin", "deal_desk"),
        ]
    )

    assert resolve(d, "finance") == [("carol", "finance", None), ("zoe", "finance", None)]


WINDOW_START = AT - timedelta(hours=1)
WINDOW_END = AT + timedelta(hours=1)


@pytest.mark.parametrize(
    ("at", "delegated"),
    [
        (WINDOW_START - timedelta(microseconds=1), False),
        (WINDOW_START, True),
        (AT, True),
        (WINDOW_END - timedelta(microseconds=1), True),
        (WINDOW_END, False),
        (WINDOW_END + timedelta(days=1), False),
    ],
)
def test_delegation_window_is_half_open(at: datetime, delegated: bool) -> None:
    d = directory(delegations=[delegation("carol", "bob", WINDOW_START, WINDOW_END)])

    expected = [("bob", "finance", "carol")] if delegated else [("carol", "finance", None)]
    assert resolve(d, "finance", at=at) == expected


def test_delegation_is_followed_once_never_chained() -> None:
    d = directory(delegations=[delegation("carol", "bob"), delegation("bob", "dave")])

    assert resolve(d, "finance") == [("bob", "finance", "carol")]


def test_delegation_to_an_inactive_user_is_ignored() -> None:
    users = [user("carol", "finance"), user("gone", active=False), user("admin", "deal_desk")]
    d = directory(users, [delegation("carol", "gone")])

    assert resolve(d, "finance") == [("carol", "finance", None)]


def test_overlapping_delegations_take_the_latest_started() -> None:
    d = directory(
        delegations=[
            delegation("carol", "bob", AT - timedelta(days=5), AT + timedelta(days=5)),
            delegation("carol", "dave", AT - timedelta(days=1), AT + timedelta(days=1)),
        ]
    )

    assert resolve(d, "finance") == [("dave", "finance", "carol")]


def test_a_delegate_who_holds_the_role_approves_once_as_themselves() -> None:
    users = [user("carol", "finance"), user("erin", "finance"), user("admin", "deal_desk")]
    d = directory(users, [delegation("carol", "erin")])

    assert resolve(d, "finance") == [("erin", "finance", None)]


def test_the_submitter_never_approves_their_own_deal() -> None:
    users = [user("carol", "finance"), user("erin", "finance"), user("admin", "deal_desk")]

    assert resolve(directory(users), "finance", submitter="carol") == [("erin", "finance", None)]


def test_the_submitters_delegate_does_not_approve_for_them() -> None:
    users = [user("carol", "finance"), user("erin", "finance"), user("admin", "deal_desk")]
    d = directory([*users, user("bob")], [delegation("carol", "bob")])

    assert resolve(d, "finance", submitter="carol") == [("erin", "finance", None)]


def test_a_delegation_to_the_submitter_adds_no_one() -> None:
    users = [user("carol", "finance"), user("erin", "finance"), user("admin", "deal_desk")]
    d = directory([*users, user("alice")], [delegation("carol", "alice")])

    assert resolve(d, "finance", submitter="alice") == [("erin", "finance", None)]


@pytest.mark.parametrize(
    ("users", "submitter"),
    [
        ([user("admin", "deal_desk")], SUBMITTER),  # nobody holds the role
        ([user("carol", "finance", active=False), user("admin", "deal_desk")], SUBMITTER),
        ([user("carol", "finance"), user("admin", "deal_desk")], "carol"),  # only the submitter
    ],
)
def test_a_role_with_no_one_falls_back_to_the_fallback_role(
    users: list[DirectoryUser], submitter: str
) -> None:
    assert resolve(directory(users), "finance", submitter=submitter) == [
        ("admin", "deal_desk", None)
    ]


def test_the_fallback_applies_delegation_too() -> None:
    users = [user("admin", "deal_desk"), user("ops")]
    d = directory(users, [delegation("admin", "ops")])

    assert resolve(d, "legal") == [("ops", "deal_desk", "admin")]


def test_no_one_even_in_the_fallback_role_is_a_clear_error() -> None:
    d = directory([user("admin", "deal_desk"), user("carol", "finance")])

    with pytest.raises(NoApproverError, match="no active approver for role 'legal'") as caught:
        d.resolve("legal", fallback_role="deal_desk", submitter="admin", at=AT)
    assert (caught.value.role, caught.value.fallback_role) == ("legal", "deal_desk")


def test_an_empty_fallback_role_itself_is_an_error() -> None:
    d = directory([user("carol", "finance")])

    with pytest.raises(NoApproverError):
        d.resolve("deal_desk", fallback_role="deal_desk", submitter=SUBMITTER, at=AT)


def test_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        directory().resolve(
            "finance", fallback_role="deal_desk", submitter=SUBMITTER, at=datetime(2027, 1, 1)
        )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Directory(users=[user("a"), user("a")]), "duplicate usernames: a"),
        (
            lambda: Directory(users=[user("a")], delegations=[delegation("a", "ghost")]),
            "delegation names unknown user",
        ),
        (lambda: delegation("a", "a"), "cannot delegate to themselves"),
        (lambda: delegation("a", "b", AT, AT), "ends_at must be after starts_at"),
        (
            lambda: delegation("a", "b", datetime(2027, 1, 1), datetime(2027, 1, 2)),
            "Input should have timezone info",
        ),
    ],
)
def test_directory_validation(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def escalate(d: Directory, username: str, submitter: str = SUBMITTER) -> list[Row]:
    return names(
        d.escalation_approvers(username, fallback_role="deal_desk", submitter=submitter, at=AT)
    )


def test_escalation_goes_to_the_manager() -> None:
    assert escalate(directory(), "carol") == [("frank", "manager", None)]


def test_escalation_follows_the_managers_delegation() -> None:
    d = directory(delegations=[delegation("frank", "dave")])

    assert escalate(d, "carol") == [("dave", "manager", "frank")]


@pytest.mark.parametrize(
    ("users", "submitter"),
    [
        ([user("carol", "finance"), user("admin", "deal_desk")], SUBMITTER),  # no manager
        (
            [
                user("carol", "finance", manager="frank"),
                user("frank", active=False),
                user("admin", "deal_desk"),
            ],
            SUBMITTER,
        ),
        (
            [
                user("carol", "finance", manager="frank"),
                user("frank"),
                user("admin", "deal_desk"),
            ],
            "frank",
        ),
    ],
)
def test_escalation_without_a_usable_manager_goes_to_the_fallback_role(
    users: list[DirectoryUser], submitter: str
) -> None:
    assert escalate(directory(users), "carol", submitter) == [("admin", "deal_desk", None)]


def test_escalation_from_the_only_fallback_user_stays_with_them() -> None:
    d = directory([user("admin", "deal_desk")])

    assert escalate(d, "admin") == [("admin", "deal_desk", None)]
