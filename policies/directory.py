"""The approver directory: who holds which approval role, who reports to whom, who is away.

Resolution rules, in order:
1. a role's approvers are its active users, the deal's submitter excluded (nobody approves
   their own deal, nor does their delegate on their behalf);
2. a user with a delegation window open at the evaluation time is replaced by the delegate,
   once: the delegate's own delegation is not followed (no chains), and a delegation to an
   inactive user is ignored, leaving the task with the delegator rather than with nobody;
3. a delegate who is the submitter, or who already holds the role directly, adds no one;
4. a role left with nobody resolves to the fallback role the same way; if that is empty too,
   NoApproverError: a deal must never be routed to nobody.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from policies.errors import NoApproverError


class DirectoryUser(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(min_length=1)
    approval_roles: list[str] = Field(default_factory=list)
    manager: str | None = None
    active: bool = True


class Delegation(BaseModel):
    """`delegator` is away from `starts_at` (inclusive) to `ends_at` (exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delegator: str
    delegate: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _sane(self) -> Delegation:
        if self.delegator == self.delegate:
            raise ValueError("a user cannot delegate to themselves")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def active_at(self, at: datetime) -> bool:
        # Half-open, so back-to-back windows never overlap and the end instant is back at work.
        return self.starts_at <= at < self.ends_at


class PlanApprover(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    # The role the approver was found through: the stage's role, or the fallback role.
    role: str
    delegated_from: str | None = None


class Directory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    users: list[DirectoryUser]
    delegations: list[Delegation] = Field(default_factory=list)

    _by_name: dict[str, DirectoryUser] = PrivateAttr(default_factory=dict)
    _by_role: dict[str, list[DirectoryUser]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Directory:
        names = [u.username for u in self.users]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate usernames: {', '.join(duplicates)}")
        known = set(names)
        for d in self.delegations:
            unknown = [n for n in (d.delegator, d.delegate) if n not in known]
            if unknown:
                raise ValueError(f"delegation names unknown user(s): {', '.join(unknown)}")
        return self

    def model_post_init(self, context: object, /) -> None:
        self._by_name = {u.username: u for u in self.users}
        by_role: dict[str, list[DirectoryUser]] = {}
        for user in sorted(self.users, key=lambda u: u.username):
            if user.active:
                for role in dict.fromkeys(user.approval_roles):
                    by_role.setdefault(role, []).append(user)
        self._by_role = by_role

    def user(self, username: str) -> DirectoryUser | None:
        return self._by_name.get(username)

    def delegate_of(self, username: str, at: datetime) -> str | None:
        """The active delegate standing in for `username` at `at`, if any. With overlapping
        windows the most recently started wins (the latest instruction), then by name."""
        windows = [
            d
            for d in self.delegations
            if d.delegator == username and d.active_at(at) and self._is_active(d.delegate)
        ]
        if not windows:
            return None
        latest = max(windows, key=lambda d: (d.starts_at, d.delegate))
        return latest.delegate

    def _is_active(self, username: str) -> bool:
        user = self._by_name.get(username)
        return user is not None and user.active

    def role_approvers(self, role: str, *, submitter: str, at: datetime) -> list[PlanApprover]:
        """Who approves for `role` at `at`, without falling back; may be empty."""
        _require_aware(at)
        found: dict[str, PlanApprover] = {}
        for user in self._by_role.get(role, []):
            if user.username == submitter:
                continue
            delegate = self.delegate_of(user.username, at)
            approver = (
                PlanApprover(username=user.username, role=role)
                if delegate is None
                else PlanApprover(username=delegate, role=role, delegated_from=user.username)
            )
            if approver.username == submitter:
                continue
            current = found.get(approver.username)
            # A delegate who also holds the role directly approves once, as themselves.
            if current is None or (current.delegated_from and not approver.delegated_from):
                found[approver.username] = approver
        return sorted(found.values(), key=lambda a: a.username)

    def resolve(
        self, role: str, *, fallback_role: str, submitter: str, at: datetime
    ) -> list[PlanApprover]:
        """Who approves for `role`, falling back to `fallback_role`; never empty."""
        approvers = self.role_approvers(role, submitter=submitter, at=at)
        if approvers:
            return approvers
        if role != fallback_role:
            approvers = self.role_approvers(fallback_role, submitter=submitter, at=at)
            if approvers:
                return approvers
        raise NoApproverError(role, fallback_role)

    def escalation_approvers(
        self, username: str, *, fallback_role: str, submitter: str, at: datetime
    ) -> list[PlanApprover]:
        """Who takes over a task escalated away from `username`: their manager when active
        (or the manager's delegate), otherwise the fallback role."""
        user = self._by_name.get(username)
        manager = user.manager if user else None
        if manager is not None and manager != submitter and self._is_active(manager):
            delegate = self.delegate_of(manager, at)
            if delegate is None:
                return [PlanApprover(username=manager, role="manager")]
            if delegate != submitter:
                return [PlanApprover(username=delegate, role="manager", delegated_from=manager)]
        approvers = self.role_approvers(fallback_role, submitter=submitter, at=at)
        if not approvers:
            raise NoApproverError("manager", fallback_role)
        # Hand it to someone other than the approver who let it lapse, when there is anyone.
        return [a for a in approvers if a.username != username] or approvers


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` must be timezone-aware (delegation windows are)")
