"""transparency: breaches, their affected subjects, notice prompts

Revision ID: transparency_0001
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "transparency_0001"
down_revision = "rights_0001"  # web branch: chained after rights_0001 (the maintainer re-chains at merge)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breach",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("occurred_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("kek_versions", sa.JSON(), nullable=False),
        sa.Column("key_store_exposed", sa.Boolean(), nullable=False),
        sa.Column("plaintext_exposed", sa.Boolean(), nullable=False),
        sa.Column("affected_subjects", sa.Integer(), nullable=False),
        sa.Column("affected_records", sa.Integer(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("consequences", sa.String(length=4000), nullable=True),
        sa.Column("measures", sa.String(length=4000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authority_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subjects_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach")),
    )
    op.create_table(
        "breach_subject",
        sa.Column("breach_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breach.id"],
                                name=op.f("fk_breach_subject_breach_id_breach")),
        sa.PrimaryKeyConstraint("breach_id", "subject_id", name=op.f("pk_breach_subject")),
    )
    op.create_table(
        "notice_prompt",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"],
                                name=op.f("fk_notice_prompt_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_prompt")),
    )
    with op.batch_alter_table("notice_prompt") as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_prompt_subject_id"), ["subject_id"])


def downgrade() -> None:
    op.drop_table("notice_prompt")
    op.drop_table("breach_subject")
    op.drop_table("breach")
