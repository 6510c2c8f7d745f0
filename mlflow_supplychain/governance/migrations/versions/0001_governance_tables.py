"""Transition requests, approvals and the hash-chained audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "sha256:" + "0" * 64


def upgrade() -> None:
    op.create_table(
        "supplychain_transition_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("requester", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("evidence_digest", sa.String(71), nullable=False),
        sa.Column("policy_digest", sa.String(71), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_by", sa.String(256), nullable=True),
        sa.Column("resolution_comment", sa.Text, nullable=True),
    )
    op.create_index("supplychain_tr_model_version", "supplychain_transition_requests",
                    ["model_name", "version"])
    op.create_index("supplychain_tr_status", "supplychain_transition_requests", ["status"])
    op.create_table(
        "supplychain_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer,
                  sa.ForeignKey("supplychain_transition_requests.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("approver", sa.String(256), nullable=False),
        sa.Column("approver_groups", sa.Text, nullable=False),
        sa.Column("evidence_digest", sa.String(71), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("request_id", "approver", name="supplychain_approval_once"),
    )
    op.create_table(
        "supplychain_audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(600), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("policy_digest", sa.String(71), nullable=False),
        sa.Column("prev_hash", sa.String(71), nullable=False),
        sa.Column("hash", sa.String(71), nullable=False),
    )
    op.create_index("supplychain_audit_ts", "supplychain_audit_events", ["ts"])
    head = op.create_table(
        "supplychain_audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(71), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("supplychain_audit_head")
    op.drop_table("supplychain_audit_events")
    op.drop_table("supplychain_approvals")
    op.drop_table("supplychain_transition_requests")
