"""The migration history builds exactly the schema the models describe, on SQLite and (with
DEALDESK_TEST_DATABASE_URL) PostgreSQL, and the checks around it refuse what they should."""

from __future__ import annotations

import ast
import sys
from typing import Any

import pytest
from sqlalchemy import DateTime, inspect, text
from sqlalchemy.engine import Engine

from store import migrate
from store.db import create_schema


def _schema(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(str(i["name"]) for i in inspector.get_indexes(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def test_upgrading_an_empty_database_matches_the_models(empty_engine: Engine) -> None:
    assert migrate.is_empty(empty_engine)
    assert migrate.current_revision(empty_engine) is None

    migrate.upgrade(empty_engine)

    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert migrate.differences(empty_engine) == []
    migrate.check(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert tables == set(migrate.target_metadata().tables) | {migrate.VERSION_TABLE}


def test_the_comparison_sees_a_difference(empty_engine: Engine) -> None:
    """Guards the test above: compare_metadata must notice a schema that is not the models'."""
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_deal_owner"))
        connection.execute(text("ALTER TABLE audit_event ADD COLUMN stray INTEGER"))

    found = {diff[0] for diff in migrate.differences(empty_engine)}

    assert found == {"add_index", "remove_column"}


def test_column_types_on_this_backend(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    columns = {c["name"]: c["type"] for c in inspect(empty_engine).get_columns("deal_version")}
    if empty_engine.dialect.name == "postgresql":
        assert str(columns["input"]) == "JSONB"
        assert str(columns["created_at"]) == "TIMESTAMP"
        assert isinstance(columns["created_at"], DateTime)
        assert columns["created_at"].timezone is True
    else:
        assert str(columns["input"]) == "JSON"
        assert str(columns["created_at"]) == "DATETIME"


def test_upgrade_is_idempotent(engine: Engine) -> None:
    before = _schema(engine)
    migrate.upgrade(engine)
    assert _schema(engine) == before
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_downgrade_to_base_and_back(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrated = _schema(empty_engine)

    migrate.downgrade(empty_engine, "base")
    assert migrate.is_empty(empty_engine)
    assert migrate.current_revision(empty_engine) is None

    migrate.upgrade(empty_engine)
    assert _schema(empty_engine) == migrated


def test_a_database_made_before_migrations_is_adopted_when_it_matches(
    empty_engine: Engine,
) -> None:
    create_schema(empty_engine)
    with pytest.raises(migrate.SchemaNotCurrent, match="no migration history"):
        migrate.check(empty_engine)

    migrate.upgrade(empty_engine)

    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    migrate.check(empty_engine)


def test_a_database_made_before_migrations_that_differs_is_refused(empty_engine: Engine) -> None:
    create_schema(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text("DROP TABLE outbox_message"))

    with pytest.raises(migrate.MigrationError, match="differ from this version's schema"):
        migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) is None


def test_check_names_what_to_do(empty_engine: Engine) -> None:
    with pytest.raises(migrate.SchemaNotCurrent, match=r"no schema yet: run `dealdesk migrate`"):
        migrate.check(empty_engine)

    migrate.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))

    with pytest.raises(migrate.SchemaNotCurrent, match="f00dcafe, which this version"):
        migrate.check(empty_engine)
    with pytest.raises(migrate.MigrationError, match="cannot migrate"):
        migrate.upgrade(empty_engine)


ALLOWED_IN_MIGRATIONS = {"alembic", "sqlalchemy"} | sys.stdlib_module_names


def test_migrations_import_only_alembic_sqlalchemy_and_the_standard_library() -> None:
    """A revision must run the same way after the models it came from have changed."""
    revisions = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert revisions
    for path in revisions:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                # The standard library does not change under a revision (0003 hashes rows).
                assert module.split(".")[0] in ALLOWED_IN_MIGRATIONS, (
                    f"{path.name} imports {module}"
                )
