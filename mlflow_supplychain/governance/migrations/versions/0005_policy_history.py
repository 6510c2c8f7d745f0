"""Keep every loaded policy by digest, and which policy each server process serves.

Comes after 0004 (version identity). Nothing existing changes: the history starts with the
policy loaded at the first start after the upgrade.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplychain_policy_history",
        sa.Column("digest", sa.String(71), primary_key=True),
        sa.Column("format_digest", sa.String(71), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("first_loaded_at", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(600), nullable=False),
    )
    op.create_table(
        "supplychain_policy_servers",
        sa.Column("process", sa.String(300), primary_key=True),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("loaded_at", sa.BigInteger, nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
    )
    op.create_index("supplychain_ps_seen", "supplychain_policy_servers", ["seen_at"])


def downgrade() -> None:
    op.drop_index("supplychain_ps_seen", table_name="supplychain_policy_servers")
    op.drop_table("supplychain_policy_servers")
    op.drop_table("supplychain_policy_history")
