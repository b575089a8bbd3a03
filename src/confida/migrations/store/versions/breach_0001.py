"""breach notes sealed: description, consequences and measures hold ciphertext

Revision ID: breach_0001
Revises: journal_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "breach_0001"
down_revision = "journal_0001"
branch_labels = None
depends_on = None

_FIELDS = (("description", False), ("consequences", True), ("measures", True))


def upgrade() -> None:
    with op.batch_alter_table("breach") as batch_op:
        for name, nullable in _FIELDS:
            batch_op.alter_column(name, existing_type=sa.String(length=4000), type_=sa.Text(),
                                  existing_nullable=nullable)


def downgrade() -> None:
    with op.batch_alter_table("breach") as batch_op:
        for name, nullable in _FIELDS:
            batch_op.alter_column(name, existing_type=sa.Text(),
                                  type_=sa.String(length=4000), existing_nullable=nullable)
