"""SQLAlchemy Core tables of the audit log, defined on a MetaData the caller owns.

The vault keeps one MetaData and one Alembic history for the whole store; taking the MetaData as
an argument lets it attach these tables there (and lets tests put them in a throwaway schema).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
)

__all__ = ["AuditTables", "define_tables"]

# On SQLite only "INTEGER PRIMARY KEY" aliases the rowid (64-bit there anyway); BIGINT would add
# a second B-tree per table and halve append throughput.
_Id = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class AuditTables:
    """The four tables; ``head`` is a single row serialising appends and holding the size."""

    entry: Table
    node: Table
    checkpoint: Table
    head: Table

    @property
    def all(self) -> list[Table]:
        return [self.entry, self.node, self.checkpoint, self.head]


def define_tables(metadata: MetaData) -> AuditTables:
    """Define the audit tables on ``metadata`` and return them."""
    entry = Table(
        "audit_entry",
        metadata,
        Column("idx", _Id, primary_key=True, autoincrement=False),
        Column("entry", Text, nullable=False),  # canonical JSON, UTF-8
        Column("leaf_hash", LargeBinary(32), nullable=False),  # SHA-256(0x00 || entry)
    )
    node = Table(
        "audit_node",
        metadata,
        # Every complete perfect subtree of level >= 1; level 0 is audit_entry.leaf_hash.
        Column("level", SmallInteger, nullable=False, autoincrement=False),
        Column("idx", BigInteger, nullable=False, autoincrement=False),
        Column("hash", LargeBinary(32), nullable=False),
        PrimaryKeyConstraint("level", "idx", name="pk_audit_node"),
        sqlite_with_rowid=False,
    )
    checkpoint = Table(
        "audit_checkpoint",
        metadata,
        Column("id", _Id, primary_key=True, autoincrement=True),
        Column("tree_size", BigInteger, nullable=False, index=True),
        Column("root", LargeBinary(32), nullable=False),
        Column("note", Text, nullable=False),  # the signed note, verbatim
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    head = Table(
        "audit_head",
        metadata,
        Column("id", SmallInteger, primary_key=True, autoincrement=False),
        Column("size", BigInteger, nullable=False),
    )
    return AuditTables(entry=entry, node=node, checkpoint=checkpoint, head=head)
