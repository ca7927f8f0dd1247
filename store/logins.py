"""Failed sign-ins, counted per account and per client address over a sliding window."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from store.tables import LoginFailure


def failures_since(
    session: Session, *, username: str, address: str, since: datetime
) -> tuple[int, int]:
    """(failures for this account, failures from this address) since `since`."""
    by_account = session.exec(
        select(func.count()).where(LoginFailure.username == username, LoginFailure.at >= since)
    ).one()
    by_address = session.exec(
        select(func.count()).where(LoginFailure.address == address, LoginFailure.at >= since)
    ).one()
    return int(by_account), int(by_address)


def record_failure(session: Session, *, username: str, address: str, at: datetime) -> None:
    session.add(LoginFailure(username=username[:64], address=address[:64], at=at))


def forget_before(session: Session, *, before: datetime) -> None:
    """Drop rows past the window, so the table stays the size of one window's failures."""
    session.execute(delete(LoginFailure).where(col(LoginFailure.at) < before))


WINDOW = timedelta(hours=1)
