"""single-use privacy-center links, server-side web sessions, session key versions

Revision ID: web_0001
Revises: journal_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = "journal_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_token_use",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_subject_token_use")),
    )
    op.create_table(
        "web_session",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=True),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_subject_id"), "web_session", ["subject_id"])
    op.create_index(op.f("ix_web_session_actor_id"), "web_session", ["actor_id"])
    op.create_table(
        "web_session_key",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_web_session_key")),
    )


def downgrade() -> None:
    op.drop_table("web_session_key")
    op.drop_index(op.f("ix_web_session_actor_id"), table_name="web_session")
    op.drop_index(op.f("ix_web_session_subject_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_table("subject_token_use")
