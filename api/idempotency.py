"""`Idempotency-Key` on the API's creating requests (Stripe's and the IETF draft's semantics).

A route opts in by taking an `IdempotencyKey` parameter. With the header, the dependency claims
the key for the caller (after authentication, so keys are per user) and this request's
fingerprint (method, path and query, body hash), then:

- a key already answered for the same request: that answer again (status, body, the headers in
  `STORED_HEADERS`) with `Idempotent-Replayed: true`, and the route does not run;
- a key used for another request: 422;
- a key whose first request is still running: 409 (retry later); a claim older than the lease
  (store.idempotency.LEASE, 60 s) is taken to be a crashed request and is taken over;
- otherwise the route runs, and `IdempotencyMiddleware` stores its answer, or lets the key go.

Only 2xx answers are stored. Every refusal of this API (4xx) is given before anything changes,
and many depend on state that may change (a deal not yet approved, the caller's roles, the
price book), so a retry deserves a fresh answer; a 5xx is never stored, so the client may retry.
Keys are kept 24 hours at least, and purged when a new key is claimed (store.idempotency).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.authorization import CurrentUser
from api.deps import SessionFactoryDep
from store import idempotency
from store.db import SessionFactory

logger = logging.getLogger(__name__)

REPLAY_HEADER = "Idempotent-Replayed"
# What a replay repeats of the first answer: what describes the result, never a cookie or a
# header the server sets per response (date, length).
STORED_HEADERS = frozenset(
    {
        "content-type",
        "content-language",
        "content-disposition",
        "content-location",
        "location",
        "etag",
        "last-modified",
        "cache-control",
        "link",
    }
)
_STATE_KEY = "idempotency_claim"
# Storing an answer or letting a key go is retried for a few seconds (a database failover);
# past that the key stays claimed until its lease ends.
_PERSIST_PAUSES = (0.0, 0.1, 0.3, 1.0, 2.0, 4.0)


class IdempotentReplay(Exception):
    def __init__(self, stored: idempotency.Stored) -> None:
        self.stored = stored


@dataclass(frozen=True)
class _Pending:
    sessions: SessionFactory
    claimed: idempotency.Claimed

    async def finish(self, start: Message, body: bytes) -> None:
        status_code: int = start["status"]
        if 200 <= status_code < 300:
            headers = [
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in start.get("headers", [])
                if name.decode("latin-1").lower() in STORED_HEADERS
            ]
            answer = idempotency.Stored(status=status_code, headers=headers, body=body)
            await self._persist(
                lambda session: idempotency.complete(session, claimed=self.claimed, answer=answer)
            )
        else:
            await self.release()

    async def release(self) -> None:
        await self._persist(lambda session: idempotency.release(session, claimed=self.claimed))

    async def _persist(self, write: Callable[..., object]) -> None:
        def run() -> None:
            with self.sessions() as session:
                write(session)

        for pause in _PERSIST_PAUSES:
            await asyncio.sleep(pause)
            try:
                await run_in_threadpool(run)
                return
            except SQLAlchemyError as err:
                failure = err
        logger.warning(
            "idempotency key %s left claimed until its lease ends: %r", self.claimed.id, failure
        )


async def idempotency_key(
    request: Request,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[ -~]+$",
            description="Any unique string (printable ASCII, 1 to 255 characters) naming this "
            "request: a retry with the same key and body gets the first answer again, with "
            f"`{REPLAY_HEADER}: true`, instead of a second effect. Kept 24 hours.",
        ),
    ] = None,
) -> str | None:
    if idempotency_key is None:
        return None
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    fingerprint = idempotency.Fingerprint(
        method=request.method, path=path, body_sha256=hashlib.sha256(body).hexdigest()
    )

    def take() -> idempotency.Outcome:
        with sessions() as session:
            return idempotency.claim(
                session,
                username=user.username,
                key=idempotency_key,
                fingerprint=fingerprint,
                now=datetime.now(UTC),
            )

    outcome = await run_in_threadpool(take)
    if isinstance(outcome, idempotency.Mismatch):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["header", "idempotency-key"],
                    "msg": "this key was already used for another request (another body or "
                    "path); use a new key for a new request",
                    "type": "idempotency_key_reused",
                }
            ],
        )
    if isinstance(outcome, idempotency.InFlight):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="a request with this Idempotency-Key is still being processed; retry later",
            headers={"Retry-After": "1"},
        )
    if isinstance(outcome, idempotency.Stored):
        raise IdempotentReplay(outcome)
    request.state.idempotency_claim = _Pending(sessions=sessions, claimed=outcome)
    return idempotency_key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    stored = exc.stored
    return Response(
        stored.body,
        status_code=stored.status,
        headers=dict(stored.headers) | {REPLAY_HEADER: "true"},
    )


class IdempotencyMiddleware:
    """Holds back the answer of a request that claimed a key until it is stored (or the key
    let go), so a retry arriving after the answer can never find the key still in flight.

    Plain ASGI, like BodySizeLimit: requests that claimed nothing pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # The dependency leaves its claim in the request's state; share one dict with it.
        state: dict[str, object] = scope.setdefault("state", {})
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold_back(message: Message) -> None:
            nonlocal start
            pending = state.get(_STATE_KEY)
            if not isinstance(pending, _Pending):
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                body = b"".join(chunks)
                del state[_STATE_KEY]
                await pending.finish(start, body)
                await send(start)
                await send({"type": "http.response.body", "body": body})
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_back)
        except Exception:
            # An error no handler answered (a 500): the client may retry.
            pending = state.pop(_STATE_KEY, None)
            if isinstance(pending, _Pending):
                await pending.release()
            raise


def install(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)
    app.add_middleware(IdempotencyMiddleware)
