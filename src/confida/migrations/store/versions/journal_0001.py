"""erasure journal (record store copy)

Revision ID: journal_0001
Revises: transparency_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "journal_0001"
down_revision = "transparency_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_journal",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("host_request", sa.String(length=128), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_id", sa.BigInteger(), nullable=True),
        sa.Column("refs", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_erasure_journal")),
    )


def downgrade() -> None:
    op.drop_table("erasure_journal")
