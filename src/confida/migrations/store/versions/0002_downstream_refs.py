"""downstream references (dataset pseudonyms and the like)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "downstream_ref",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("system", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_downstream_ref_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downstream_ref")),
    )
    with op.batch_alter_table("downstream_ref") as batch_op:
        batch_op.create_index(batch_op.f("ix_downstream_ref_subject_id"), ["subject_id"])


def downgrade() -> None:
    op.drop_table("downstream_ref")
