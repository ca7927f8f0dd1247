from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from api.authorization import CurrentUser
from api.deps import SessionDep
from api.responses import errors
from policies import Policy, PolicyError, load_policy
from store import deals, policy_versions

router = APIRouter(prefix="/policies", tags=["policies"], responses=errors(400, 401, 403, 409, 413))

# A policy is a few hundred rules at most; bigger documents are refused before parsing.
MAX_POLICY_BYTES = 256_000


class PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: str = Field(min_length=1, max_length=MAX_POLICY_BYTES)


class PolicySummary(BaseModel):
    version: int
    active: bool
    document: str
    rules: list[str]
    created_by: str
    created_at: datetime


class ValidationReport(BaseModel):
    valid: bool
    version: int
    rules: list[str]


def _load(document: str) -> Policy:
    try:
        return load_policy(document)
    except PolicyError as err:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "document"],
                    "msg": str(issue),
                    "type": "policy_invalid",
                    "rule_id": issue.rule_id,
                    "path": issue.path,
                    "line": issue.line,
                }
                for issue in err.errors
            ],
        ) from err


@router.get("/active")
def get_active(user: CurrentUser, session: SessionDep) -> PolicySummary:
    stored = policy_versions.active_policy(session)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no policy is active")
    return PolicySummary(
        version=stored.version,
        active=stored.active,
        document=stored.document,
        rules=[r.id for r in _load(stored.document).rules],
        created_by=stored.created_by,
        created_at=stored.created_at,
    )


@router.post("/validate")
def validate(body: PolicyDocument, user: CurrentUser) -> ValidationReport:
    """Check a draft without storing it: 422 names each rule that fails, and why."""
    policy = _load(body.document)
    return ValidationReport(valid=True, version=policy.version, rules=[r.id for r in policy.rules])


@router.put("")
def put_policy(body: PolicyDocument, user: CurrentUser, session: SessionDep) -> PolicySummary:
    """Store a new policy version and make it active; deals already routed keep theirs."""
    policy = _load(body.document)
    now = datetime.now(UTC)
    latest = policy_versions.next_policy_version(session) - 1
    if policy.version <= latest:
        # Versions only go up, so two admins editing the same version cannot both win.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"version {policy.version} is not newer than the stored version {latest}",
        )
    try:
        stored = policy_versions.store_policy(
            session, version=policy.version, document=body.document, actor=user.username, at=now
        )
        deals.append_audit(
            session,
            subject_type="policy",
            deal_id=str(policy.version),
            key="stored",
            version=policy.version,
            event="policy_activated",
            actor=user.username,
            at=now,
            detail={"rules": [r.id for r in policy.rules]},
        )
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"version {policy.version} was stored meanwhile"
        ) from err
    return PolicySummary(
        version=stored.version,
        active=True,
        document=stored.document,
        rules=[r.id for r in policy.rules],
        created_by=stored.created_by,
        created_at=stored.created_at,
    )
