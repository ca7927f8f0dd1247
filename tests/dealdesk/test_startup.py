"""`dealdesk migrate` and the schema check every start-up makes (`up`, `api`, `worker`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from store import migrate
from tests.dealdesk.conftest import PRODUCTION, database_url, run_cli


@pytest.fixture
def newer_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The code of a later release: the same history plus one revision the database lacks."""
    copy = tmp_path / "migrations"
    shutil.copytree(
        migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    (copy / "versions" / "9999_later.py").write_text(
        '"""A later release\'s migration."""\n\n'
        'revision = "9999"\n'
        f'down_revision = "{migrate.head_revision()}"\n'
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        "    pass\n\n\n"
        "def downgrade() -> None:\n"
        "    pass\n"
    )
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    return "9999"


def _schema(engine: Engine) -> dict[str, list[str]]:
    inspector = inspect(engine)
    return {
        table: sorted(c["name"] for c in inspector.get_columns(table))
        for table in sorted(inspector.get_table_names())
    }


def test_migrate_twice_is_a_no_op(
    empty_engine: Engine,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = database_url(empty_engine)
    head = migrate.head_revision()

    run_cli(monkeypatch, ["migrate"], DEALDESK_DATABASE_URL=url, **PRODUCTION)
    assert capsys.readouterr().out == f"database schema migrated from empty to revision {head}\n"
    migrated = _schema(empty_engine)

    run_cli(monkeypatch, ["migrate"])
    assert capsys.readouterr().out == f"database schema already at revision {head} (newest)\n"
    assert _schema(empty_engine) == migrated
    assert migrate.current_revision(empty_engine) == head


@pytest.mark.parametrize("command", ["api", "worker"])
@pytest.mark.parametrize("mode", ["production", "development"])
def test_a_database_at_an_older_revision_is_refused(
    engine: Engine,
    newer_code: str,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    mode: str,
) -> None:
    env = {**PRODUCTION, "DEALDESK_MODE": mode}
    old = migrate.current_revision(engine)

    with pytest.raises(SystemExit) as refused:
        run_cli(monkeypatch, [command], DEALDESK_DATABASE_URL=database_url(engine), **env)

    assert refused.value.code == (
        f"dealdesk: the database is at schema revision {old}, this version of DealDesk needs "
        f"{newer_code}: run `dealdesk migrate`"
    )
    # Refusing changed nothing; `dealdesk migrate` then brings it up, and start-up accepts it.
    assert migrate.current_revision(engine) == old
    run_cli(monkeypatch, ["migrate"])
    assert migrate.current_revision(engine) == newer_code
    migrate.check(engine)


def test_a_database_from_a_newer_release_is_refused(
    engine: Engine, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    url = database_url(engine)

    with pytest.raises(SystemExit) as refused:
        run_cli(monkeypatch, ["worker"], DEALDESK_DATABASE_URL=url, **PRODUCTION)
    assert "revision f00dcafe, which this version of DealDesk does not know" in str(
        refused.value.code
    )

    with pytest.raises(SystemExit) as refused:
        run_cli(monkeypatch, ["migrate"])
    assert str(refused.value.code).startswith("dealdesk: cannot migrate the database:")


def test_development_migrates_an_empty_database_at_start_up(
    empty_engine: Engine,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `seed` prepares the database exactly as `dealdesk up` does, without starting Temporal.
    run_cli(monkeypatch, ["seed"], DEALDESK_DATABASE_URL=database_url(empty_engine))

    out = capsys.readouterr().out
    assert f"database created at schema revision {migrate.head_revision()}" in out
    assert "seeded:" in out
    migrate.check(empty_engine)


def test_start_up_in_production_refuses_an_empty_database_without_a_traceback(
    empty_engine: Engine, cli_env: dict[str, str]
) -> None:
    env = {**os.environ, **PRODUCTION, "DEALDESK_DATABASE_URL": database_url(empty_engine)}

    result = subprocess.run(
        [sys.executable, "-m", "dealdesk.cli", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "dealdesk: the database has no schema yet: run `dealdesk migrate`"
    )
    assert migrate.is_empty(empty_engine)


def test_an_unreachable_database_is_one_line(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url("postgresql+psycopg://nobody@127.0.0.1:1/none").render_as_string()
    with pytest.raises(SystemExit) as refused:
        run_cli(monkeypatch, ["migrate"], DEALDESK_DATABASE_URL=url, **PRODUCTION)
    assert str(refused.value.code).startswith("dealdesk: the database cannot be used:")


def test_a_missing_temporal_tls_file_is_one_line(
    engine: Engine, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(SystemExit) as refused:
        run_cli(
            monkeypatch,
            ["worker"],
            DEALDESK_DATABASE_URL=database_url(engine),
            DEALDESK_TEMPORAL_TLS_CA=str(missing),
            **PRODUCTION,
        )
    assert refused.value.code == (
        f"dealdesk: DEALDESK_TEMPORAL_TLS_CA names {missing}, which cannot be read: "
        "No such file or directory"
    )
