"""In-toto statements in DSSE envelopes: the format of each scan attestation, and the signed
statement of each approval.

- ``supplychain_scan_attestations.format``: the registered format of the ``payload`` text
  (``integrity/attestation_formats``). Existing rows keep NULL, which means the original signed
  payload: they keep verifying as before.
- ``supplychain_approvals.envelope``: the DSSE envelope of the approval statement the registry
  signs when the approval is recorded. Approvals recorded before have none and keep counting.
- MySQL/MariaDB: ``payload`` becomes LONGTEXT (TEXT holds 64 KiB; an envelope of a model with
  a few hundred files is larger). Other databases' TEXT has no such limit.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("supplychain_scan_attestations",
                  sa.Column("format", sa.String(40), nullable=True))
    op.add_column("supplychain_approvals", sa.Column("envelope", sa.Text, nullable=True))
    if op.get_bind().dialect.name == "mysql":
        op.alter_column("supplychain_scan_attestations", "payload",
                        existing_type=sa.Text, type_=mysql.LONGTEXT, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("supplychain_approvals") as batch:
        batch.drop_column("envelope")
    with op.batch_alter_table("supplychain_scan_attestations") as batch:
        batch.drop_column("format")
