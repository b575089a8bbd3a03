"""The key store: data keys, KEK versions and the erasure journal

Revision ID: 0001
Revises:
Create Date: 2026-11-30

The one baseline: every table as of the first release. Later revisions are numbered from here
(``0002_...``), so the file names show the order.
"""

import sqlalchemy as sa
from alembic import op

import confida.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_data_key")),
    )
    op.create_index(op.f("ix_data_key_kek_version"), "data_key", ["kek_version"], unique=False)
    op.create_table(
        "erasure_journal",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_erasure_journal")),
    )
    op.create_table(
        "kek_version",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("destroyed_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_kek_version")),
    )


def downgrade() -> None:
    op.drop_table("kek_version")
    op.drop_table("erasure_journal")
    op.drop_index(op.f("ix_data_key_kek_version"), table_name="data_key")
    op.drop_table("data_key")
