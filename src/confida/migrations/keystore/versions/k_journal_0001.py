"""erasure journal (key store copy)

Revision ID: k_journal_0001
Revises: keys_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "k_journal_0001"
down_revision = "keys_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_journal",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_erasure_journal")),
    )


def downgrade() -> None:
    op.drop_table("erasure_journal")
