"""Key per-version evidence by the version's immutable identity (workspace + identity digest).

Existing attestations and transition requests keep ``NULL`` in both columns: every lookup
filters on ``identity_digest``, so they stop counting as evidence (fail closed). Rescan
(``mlflow-supplychain reconcile``) and request approval again after upgrading.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = {"supplychain_scan_attestations": "supplychain_att_identity",
           "supplychain_transition_requests": "supplychain_tr_identity"}


def upgrade() -> None:
    for table, index in _TABLES.items():
        op.add_column(table, sa.Column("workspace", sa.String(63), nullable=True))
        op.add_column(table, sa.Column("identity_digest", sa.String(71), nullable=True))
        op.create_index(index, table, ["identity_digest"])


def downgrade() -> None:
    for table, index in _TABLES.items():
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("identity_digest")
            batch.drop_column("workspace")
