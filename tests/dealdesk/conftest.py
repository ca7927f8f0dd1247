"""The `dealdesk` command under test: a clean environment and the test database as a URL."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from temporalio import activity, workflow

from dealdesk.cli import main
from dealdesk.settings import get_settings

PRODUCTION = {
    "DEALDESK_MODE": "production",
    "DEALDESK_SECRET_KEY": "p" * 40,
    "DEALDESK_SEED_DEMO_DATA": "false",
}


def database_url(engine: Engine) -> str:
    """The test database as a URL the CLI can open (a PostgreSQL test's schema included)."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A clean DEALDESK_* environment (no .env either) and a fresh get_settings() around it.
    Temporal points at a closed port, so a check that wrongly passes fails fast, not hangs."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("DEALDESK_") and key != "DEALDESK_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    env = {"DEALDESK_DATA_DIR": str(tmp_path / "data"), "DEALDESK_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    # main() configures process-wide logging (a root handler on this test's captured stderr,
    # Temporal's logger flags): put it back for the tests that follow.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    on_message = (
        workflow.logger.workflow_info_on_message,
        activity.logger.activity_info_on_message,
    )
    yield env
    root.handlers[:] = handlers
    root.setLevel(level)
    workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = on_message
    get_settings.cache_clear()


def run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    main(argv)
