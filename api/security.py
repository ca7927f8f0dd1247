"""Passwords and bearer tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Argon2id at OWASP's minimum: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_ALGORITHM = "HS256"


@lru_cache(maxsize=64)
def hash_password(password: str) -> str:
    # Cached so re-seeding demo users (tests do it per database) costs one hash per password.
    return _hasher.hash(password)


def hash_new_password(password: str) -> str:
    """A password a person chose: never cached, so its plaintext is not kept in memory."""
    return _hasher.hash(password)


# Verifying against this when the user does not exist keeps both failures equally slow.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_token(*, username: str, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": username, "iat": now, "exp": now + ttl}, secret, algorithm=_ALGORITHM)


def decode_token(token: str, *, secret: str) -> str:
    """The username in a valid token; raises jwt.InvalidTokenError otherwise."""
    claims = jwt.decode(
        token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "iat"]}
    )
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise jwt.InvalidTokenError("token has no subject")
    return subject
