"""On MySQL/MariaDB, make our tables utf8mb4 with a binary (case- and accent-sensitive) collation.

MySQL's default collations compare 'Fraud' and 'fraud' (and 'é' and 'e') as equal, so lookups
by model name, the one-approval-per-approver constraint and a model's audit trail (a range and
LIKE on the subject) could merge two models' evidence. Names compare byte for byte elsewhere
(SQLite, PostgreSQL); this makes MySQL agree. Other databases: nothing to do.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None



def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return
    # every table of ours that exists at this revision, whatever earlier migrations created
    tables = [name for name in sa.inspect(bind).get_table_names()
              if name.startswith("supplychain_")]
    for table in tables:
        op.execute(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")


def downgrade() -> None:
    """Binary collations stay: folding names together again would be the bug this fixed."""
