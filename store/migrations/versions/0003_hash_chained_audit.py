"""Hash-chained audit: every audit_event row gets a position (seq), the hash of the row before
it and its own hash; audit_head keeps the newest position and hash. Rows already there are
chained in id order. On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE of
audit_event.

Created 2026-11-24.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64

_audit = sa.table(
    "audit_event",
    sa.column("id", sa.Integer()),
    sa.column("subject_type", sa.String()),
    sa.column("deal_id", sa.String()),
    sa.column("key", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("event", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("detail", sa.JSON()),
    sa.column("seq", sa.BigInteger()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _chain_hash(prev_hash: str, row: Any) -> str:
    """A frozen copy of store/audit.py's canonical form and chain hash at this revision (a
    migration must not import the code it came from); tests/store/test_audit.py checks that
    the rows chained here verify with the current code."""
    at: datetime = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
    document = {
        "subject_type": row.subject_type,
        "deal_id": row.deal_id,
        "key": row.key,
        "version": row.version,
        "event": row.event,
        "actor": row.actor,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "detail": row.detail,
    }
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("utf-8")
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


_APPEND_ONLY = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Nullable until the rows already there are chained.
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    connection = op.get_bind()
    rows = connection.execute(sa.select(_audit).order_by(_audit.c.id)).all()
    seq, prev = 0, GENESIS_HASH
    chained: list[dict[str, Any]] = []
    for row in rows:
        seq += 1
        digest = _chain_hash(prev, row)
        chained.append({"row_id": row.id, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    if chained:
        connection.execute(
            _audit.update()
            .where(_audit.c.id == sa.bindparam("row_id"))
            .values(
                seq=sa.bindparam("seq"),
                prev_hash=sa.bindparam("prev_hash"),
                hash=sa.bindparam("hash"),
            ),
            chained,
        )
    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)").bindparams(
            seq=seq, hash=prev
        )
    )

    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_audit_event_seq", ["seq"], unique=True)

    if connection.dialect.name == "postgresql":
        # Statement-level, so even an UPDATE or DELETE that matches no row is refused. Only the
        # table's owner or a superuser can disable it, and that is itself a visible act.
        op.execute(_APPEND_ONLY)
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_event FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.drop_index("ix_audit_event_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("audit_head")
