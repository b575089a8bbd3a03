"""data subject rights: requests, objections, retained records, erasure feed

Revision ID: rights_0001
Revises: 0003 (re-chained after main gained 0003; the maintainer re-chains at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "rights_0001"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subject_request",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_months", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.String(length=500), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=500), nullable=True),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"],
                                name=op.f("fk_subject_request_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_request")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_subject_request_idempotency_key")),
    )
    with op.batch_alter_table("subject_request") as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_request_due_at"), ["due_at"])
        batch_op.create_index(batch_op.f("ix_subject_request_subject_id"), ["subject_id"])

    with op.batch_alter_table("record") as batch_op:
        batch_op.create_index("ix_record_subject_hold_purpose",
                              ["subject_id", "legal_hold", "purpose"])

    op.create_table(
        "objection",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"],
                                name=op.f("fk_objection_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection")),
    )
    with op.batch_alter_table("objection") as batch_op:
        batch_op.create_index("ix_objection_subject_purpose", ["subject_id", "purpose"],
                              unique=True)

    op.create_table(
        "retained_record",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("ground", sa.String(length=32), nullable=False),
        sa.Column("retained_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"],
                                name=op.f("fk_retained_record_subject_id_subject")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_retained_record")),
    )
    with op.batch_alter_table("retained_record") as batch_op:
        batch_op.create_index(batch_op.f("ix_retained_record_subject_id"), ["subject_id"])

    op.create_table(
        "erasure_notice",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_notice")),
        sa.UniqueConstraint("request_id", name=op.f("uq_erasure_notice_request_id")),
    )


def downgrade() -> None:
    op.drop_table("erasure_notice")
    op.drop_table("retained_record")
    op.drop_table("objection")
    op.drop_table("subject_request")
    with op.batch_alter_table("record") as batch_op:
        batch_op.drop_index("ix_record_subject_hold_purpose")
