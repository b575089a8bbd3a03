"""record.version: the re-seal counter bound into each record's associated data

Revision ID: record_version_0001
Revises: journal_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "record_version_0001"
down_revision = "journal_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record") as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("record") as batch_op:
        batch_op.drop_column("version")
