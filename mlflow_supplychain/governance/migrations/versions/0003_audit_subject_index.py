"""Index the audit log by subject, for a model's audit trail on the governance page.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("supplychain_audit_subject", "supplychain_audit_events", ["subject"])


def downgrade() -> None:
    op.drop_index("supplychain_audit_subject", table_name="supplychain_audit_events")
