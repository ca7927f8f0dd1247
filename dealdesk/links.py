"""Signed links a customer opens without an account: `/p/<token>` for one proposal version.

The token is an HS256 JWT under a key derived from the secret key for this purpose only, with
its own audience, so a session token is never a valid link and a link never a session. It
names the deal and the version and expires with the proposal. Whether it may still be
answered (not superseded, not answered yet) is the workflow's to say, not the token's.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from dealdesk.settings import Settings

_ALGORITHM = "HS256"
_AUDIENCE = "dealdesk:proposal"


class LinkInvalid(Exception):
    """Tampered, malformed or for another purpose."""


class LinkExpired(LinkInvalid):
    pass


@dataclass(frozen=True)
class ProposalLink:
    deal_id: str
    version: int
    expires_at: datetime


class ProposalLinks:
    def __init__(self, secret: str, base_url: str) -> None:
        # A key of its own: leaking how links are signed must not forge sessions, or back.
        self._key = hmac.new(secret.encode(), b"dealdesk proposal links", hashlib.sha256).digest()
        self._base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> ProposalLinks:
        return cls(settings.secret_key.get_secret_value(), settings.base_url)

    def token(self, *, deal_id: str, version: int, expires_at: datetime) -> str:
        claims = {
            "aud": _AUDIENCE,
            "sub": deal_id,
            "ver": version,
            "exp": expires_at,
            "iat": datetime.now(UTC),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def url(self, *, deal_id: str, version: int, expires_at: datetime) -> str:
        token = self.token(deal_id=deal_id, version=version, expires_at=expires_at)
        return f"{self._base_url}/p/{token}"

    def read(self, token: str) -> ProposalLink:
        if len(token) > 2000:
            raise LinkInvalid("link too long")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                options={"require": ["aud", "sub", "ver", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise LinkExpired("this proposal link has expired") from err
        except jwt.InvalidTokenError as err:
            raise LinkInvalid("this proposal link is not valid") from err
        deal_id, version = claims["sub"], claims["ver"]
        if not isinstance(deal_id, str) or not isinstance(version, int) or version < 1:
            raise LinkInvalid("this proposal link is not valid")
        return ProposalLink(
            deal_id=deal_id,
            version=version,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
