"""Request notes: the text of a correction request, sealed under the subject's data key

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

import confida.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_note",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["subject_request.id"],
            name=op.f("fk_request_note_request_id_subject_request"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_request_note_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_note")),
    )
    op.create_index(
        op.f("ix_request_note_subject_id"), "request_note", ["subject_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_request_note_subject_id"), table_name="request_note")
    op.drop_table("request_note")
