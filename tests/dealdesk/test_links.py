"""The customer's proposal links: bound to one deal version, one purpose, one expiry."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.security import create_token
from dealdesk.links import LinkExpired, LinkInvalid, ProposalLinks

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def _links() -> ProposalLinks:
    return ProposalLinks(SECRET, "https://deals.example.com/")


def test_a_link_names_its_deal_version_and_expiry() -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    url = _links().url(deal_id="d-1", version=3, expires_at=expires)
    assert url.startswith("https://deals.example.com/p/")
    link = _links().read(url.rsplit("/", 1)[1])
    assert (link.deal_id, link.version, link.expires_at) == ("d-1", 3, expires)


def test_an_expired_link_is_refused_as_expired() -> None:
    token = _links().token(
        deal_id="d-1", version=1, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    with pytest.raises(LinkExpired):
        _links().read(token)


def test_a_session_token_is_not_a_link_and_a_link_is_not_a_session() -> None:
    session = create_token(username="alice", secret=SECRET, ttl=timedelta(hours=1))
    with pytest.raises(LinkInvalid):
        _links().read(session)
    link = _links().token(deal_id="d-1", version=1, expires_at=datetime.now(UTC) + timedelta(1))
    # Signed with a key derived for links only, so the session check fails on the signature.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(link, SECRET, algorithms=["HS256"], audience="dealdesk:proposal")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "d-1", "ver": 1},  # no audience
        {"aud": "dealdesk:session", "sub": "d-1", "ver": 1},
        {"aud": "dealdesk:proposal", "sub": "d-1", "ver": "1"},
        {"aud": "dealdesk:proposal", "sub": "d-1", "ver": 0},
        {"aud": "dealdesk:proposal", "ver": 1},
    ],
)
def test_claims_that_do_not_make_a_link_are_refused(claims: dict[str, object]) -> None:
    key = hmac.new(SECRET.encode(), b"dealdesk proposal links", hashlib.sha256).digest()
    now = datetime.now(UTC)
    token = jwt.encode(claims | {"iat": now, "exp": now + timedelta(hours=1)}, key, "HS256")
    with pytest.raises(LinkInvalid):
        _links().read(token)


def test_other_algorithms_and_oversized_tokens_are_refused() -> None:
    now = datetime.now(UTC)
    claims = {
        "aud": "dealdesk:proposal",
        "sub": "d",
        "ver": 1,
        "iat": now,
        "exp": now + timedelta(1),
    }
    with pytest.raises(LinkInvalid):
        _links().read(jwt.encode(claims, None, algorithm="none"))
    with pytest.raises(LinkInvalid):
        _links().read("x" * 2001)
