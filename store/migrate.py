"""Schema migrations: one Alembic history (store/migrations/) for SQLite and PostgreSQL.

Alembic is configured here in code, so there is no alembic.ini. The CLI uses `upgrade` for
`dealdesk migrate` and `check` at start-up; a developer adds a revision with

    python -m store.migrate revision -m "what changed"

which autogenerates it against a scratch database at head (then read and tidy it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

# Alembic logs each of its built-in plugins at INFO while it is imported (seven lines at every
# start-up); this must come before the first import of alembic.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.autogenerate.api import AutogenContext  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from alembic.util.exc import CommandError  # noqa: E402
from sqlalchemy import JSON, MetaData, inspect, text  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402
from sqlalchemy.types import String  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402
from sqlmodel.sql.sqltypes import AutoString  # noqa: E402

from store.columns import UTCDateTime  # noqa: E402
from store.db import make_engine  # noqa: E402  (also registers every table on the metadata)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# Any constant will do; it only has to be the same for every `dealdesk migrate`, so two of them
# started at once (a scaled one-shot, a retried deploy) run one after the other on PostgreSQL.
_PG_LOCK_KEY = 0x0DEA1DE5


class _MigrationSteps(logging.Filter):
    """Alembic says which dialect it uses and how it treats DDL every time a context opens
    (each start-up check); keep only the steps it runs, and anything worse than INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or record.getMessage().startswith("Running ")


logging.getLogger("alembic.runtime.migration").addFilter(_MigrationSteps())


class MigrationError(RuntimeError):
    """The schema cannot be used or migrated as it is; the message says what to do."""


class SchemaNotCurrent(MigrationError):
    pass


def target_metadata() -> MetaData:
    return SQLModel.metadata


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser interpolates %; a path may contain one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("version_table", VERSION_TABLE)
    config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = _script().get_current_head()
    if head is None:
        raise MigrationError("store/migrations has no revision")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def is_empty(engine: Engine) -> bool:
    """True when none of DealDesk's tables exist (an empty version table may)."""
    with engine.connect() as connection:
        return not _our_tables(connection)


def _our_tables(connection: Connection) -> set[str]:
    return set(target_metadata().tables) & set(inspect(connection).get_table_names())


def migration_options() -> dict[str, Any]:
    """What env.py and `differences` pass to Alembic, so autogenerate and the check agree."""
    return {
        "target_metadata": target_metadata(),
        "version_table": VERSION_TABLE,
        "compare_type": True,
        "render_item": render_item,
    }


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our column types as plain SQLAlchemy ones, so a migration imports only
    sqlalchemy and alembic: a migration must keep working after the code it came from changes."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        # The decorator only converts values in Python; the column is a timezone-aware DATETIME.
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, AutoString):
        # sqlmodel's decorator around String (it only changes MySQL); the column is a VARCHAR.
        length = cast(String, obj.impl).length
        return f"sa.String(length={length})" if length else "sa.String()"
    if isinstance(obj, JSON) and "postgresql" in obj._variant_mapping:
        # JSONType. Alembic's own rendering of the variant names `Text()` without its module,
        # which fails when the migration runs.
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would write to bring the database to the models; [] when they match."""
    with engine.connect() as connection:
        return _compare(connection)


def _compare(connection: Connection) -> list[Any]:
    options = migration_options()
    metadata = options.pop("target_metadata")
    diffs: list[Any] = compare_metadata(
        MigrationContext.configure(connection, opts=options), metadata
    )
    return diffs


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision`; a no-op when it is there already."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends; PostgreSQL runs the whole upgrade in it.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config = _config(connection)
        if _unversioned(connection):
            _adopt(connection, config)
        try:
            command.upgrade(config, revision)
        except CommandError as err:
            raise MigrationError(f"cannot migrate the database: {err}") from err


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back (to "base": no tables). Not in the CLI: restoring a backup is the
    way back in production; this is for tests and development."""
    with engine.begin() as connection:
        try:
            command.downgrade(_config(connection), revision)
        except CommandError as err:
            raise MigrationError(f"cannot downgrade the database: {err}") from err


def _unversioned(connection: Connection) -> bool:
    if not _our_tables(connection):
        return False
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision() is None


def _adopt(connection: Connection, config: Config) -> None:
    """A database made before migrations existed (by create_all): stamp it at head when it
    matches the models exactly, so `dealdesk migrate` carries it on; refuse anything else."""
    diffs = _compare(connection)
    if diffs:
        first = str(diffs[0])[:200]
        raise MigrationError(
            "the database has DealDesk tables but no migration history, and they differ from "
            f"this version's schema ({len(diffs)} differences, first: {first}); it predates "
            "migrations: move it aside and run `dealdesk migrate` on an empty database"
        )
    command.stamp(config, "head")


def check(engine: Engine) -> None:
    """Raise SchemaNotCurrent, with what to do, unless the database is at the head revision."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if current is None:
        if is_empty(engine):
            raise SchemaNotCurrent("the database has no schema yet: run `dealdesk migrate`")
        raise SchemaNotCurrent(
            "the database has DealDesk tables but no migration history: run `dealdesk migrate`"
        )
    try:
        known = _script().get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise SchemaNotCurrent(
            f"the database is at schema revision {current}, which this version of DealDesk "
            f"does not know (its newest is {head}); a newer release migrated it: run that release"
        )
    raise SchemaNotCurrent(
        f"the database is at schema revision {current}, this version of DealDesk needs {head}: "
        "run `dealdesk migrate`"
    )


def new_revision(message: str) -> Path:
    """Autogenerate the next revision against a scratch SQLite database at head."""
    script = _script()
    rev_id = f"{len(list(script.walk_revisions())) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            upgrade(engine)
            with engine.begin() as connection:
                written = command.revision(
                    _config(connection), message=message, autogenerate=True, rev_id=rev_id
                )
        finally:
            engine.dispose()
    if written is None or isinstance(written, list):
        raise MigrationError("alembic wrote no single revision")
    return Path(written.path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m store.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="autogenerate the next revision from the models")
    revision.add_argument("-m", "--message", required=True)
    sub.add_parser("heads", help="print the head revision")
    args = parser.parse_args(argv)
    if args.command == "revision":
        path = new_revision(args.message)
        print(f"wrote {path}; read it, tidy it, and run ruff on it")
    else:
        print(head_revision())


if __name__ == "__main__":
    main(sys.argv[1:])
