"""key store: KEK versions and wrapped data keys

Revision ID: k0001
Revises:
Create Date: 2026-11-28 00:24:39.804229
"""

import sqlalchemy as sa
from alembic import op

revision = "k0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_data_key")),
    )
    with op.batch_alter_table("data_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_key_kek_version"), ["kek_version"], unique=False)

    op.create_table(
        "kek_version",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_kek_version")),
    )


def downgrade() -> None:
    op.drop_table("kek_version")
    with op.batch_alter_table("data_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_key_kek_version"))

    op.drop_table("data_key")
