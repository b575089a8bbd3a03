"""records, subjects and the consent ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:24:38.982843
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_subject_pseudonym")),
        sa.UniqueConstraint("ref", name=op.f("uq_subject_ref")),
    )
    op.create_table(
        "consent_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_consent_event_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_event")),
    )
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_event_subject_purpose", ["subject_id", "purpose", "id"], unique=False
        )

    op.create_table(
        "record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("pii_summary", sa.JSON(), nullable=True),
        sa.Column("dropped_fields", sa.Integer(), nullable=False),
        sa.Column("consent_event_id", sa.BigInteger(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_record_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record")),
    )
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_retain_until"), ["retain_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_record_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_subject_id"))
        batch_op.drop_index(batch_op.f("ix_record_retain_until"))

    op.drop_table("record")
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_event_subject_purpose")

    op.drop_table("consent_event")
    op.drop_table("subject")
