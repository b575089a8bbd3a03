"""key store: when each KEK version was retired and destroyed (``keys retire``)

Revision ID: keys_0001
Revises: k0001
"""

import sqlalchemy as sa
from alembic import op

revision = "keys_0001"
down_revision = "k0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kek_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kek_version", schema=None) as batch_op:
        batch_op.drop_column("destroyed_at")
        batch_op.drop_column("retired_at")
