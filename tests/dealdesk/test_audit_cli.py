"""`dealdesk audit verify`: OK with the row count, else exit 1 and one line naming the first
broken position and why; never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import col

from store.db import SessionFactory
from store.tables import AuditEvent
from tests.dealdesk.conftest import PRODUCTION, database_url, run_cli
from tests.store.audit_log import build_log, tampering


def test_an_intact_log_is_reported_with_its_row_count(
    engine: Engine,
    sessions: SessionFactory,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_log(sessions, 20)

    run_cli(monkeypatch, ["audit", "verify"], DEALDESK_DATABASE_URL=database_url(engine))

    assert capsys.readouterr().out.startswith("audit chain OK: 20 rows, head at seq 20 hash ")


def test_a_removed_row_exits_1_with_its_position_and_no_traceback(
    engine: Engine, sessions: SessionFactory, cli_env: dict[str, str]
) -> None:
    build_log(sessions, 20)
    with tampering(sessions, keep=True) as session:
        session.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) == 7))
    env = {**os.environ, **PRODUCTION, "DEALDESK_DATABASE_URL": database_url(engine)}

    result = subprocess.run(
        [sys.executable, "-m", "dealdesk.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "dealdesk: audit chain broken at seq 7: removed: row 7 is missing"
    )


def test_an_unreachable_or_unmigrated_database_is_one_line(
    empty_engine: Engine, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url("postgresql+psycopg://nobody@127.0.0.1:1/none").render_as_string()
    with pytest.raises(SystemExit) as refused:
        run_cli(monkeypatch, ["audit", "verify"], DEALDESK_DATABASE_URL=url)
    assert str(refused.value.code).startswith("dealdesk: the database cannot be used:")

    with pytest.raises(SystemExit) as refused:
        run_cli(monkeypatch, ["audit", "verify"], DEALDESK_DATABASE_URL=database_url(empty_engine))
    assert refused.value.code == "dealdesk: the database has no schema yet: run `dealdesk migrate`"
