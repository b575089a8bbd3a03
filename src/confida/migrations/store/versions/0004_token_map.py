"""token map for reversible PII tokens

Revision ID: 0004
Revises: api_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_map",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"],
                                name=op.f("fk_token_map_subject_id_subject")),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_token_map")),
    )
    with op.batch_alter_table("token_map") as batch_op:
        batch_op.create_index(batch_op.f("ix_token_map_subject_id"), ["subject_id"])


def downgrade() -> None:
    op.drop_table("token_map")
