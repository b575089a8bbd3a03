"""Interim data-subject requests of the privacy center

Revision ID: web_0001
Revises: api_0001 (on main: 0002; the maintainer re-chains at merge time)
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interim_request",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("sealed_text", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_months", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"],
                                name=op.f("fk_interim_request_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interim_request")),
    )
    op.create_index(op.f("ix_interim_request_subject_id"), "interim_request", ["subject_id"])
    op.create_index(op.f("ix_interim_request_due_at"), "interim_request", ["due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_interim_request_due_at"), table_name="interim_request")
    op.drop_index(op.f("ix_interim_request_subject_id"), table_name="interim_request")
    op.drop_table("interim_request")
