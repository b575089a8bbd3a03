"""training datasets, privacy budgets and the privacy-spend ledger

Revision ID: training_0001
Revises: rights_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "training_0001"
down_revision = "transparency_0001"  # web branch: chained after transparency_0001 (the maintainer re-chains at merge)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_dataset",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("register_hash", sa.String(length=64), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_dataset")),
    )
    op.create_table(
        "privacy_budget",
        sa.Column("analyst", sa.String(length=128), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("epsilon_limit", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("analyst", "dataset", name=op.f("pk_privacy_budget")),
    )
    op.create_table(
        "privacy_spend",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("analyst", sa.String(length=128), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("query", sa.String(length=32), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_spend")),
    )
    op.create_index("ix_privacy_spend_analyst_dataset", "privacy_spend", ["analyst", "dataset"])


def downgrade() -> None:
    op.drop_index("ix_privacy_spend_analyst_dataset", table_name="privacy_spend")
    op.drop_table("privacy_spend")
    op.drop_table("privacy_budget")
    op.drop_table("training_dataset")
