"""Store what the registry signs when it promotes a version: a SLSA verification summary and an
OpenSSF Model Signing bundle, keyed by the version's identity, the target and the policy.

A new table; nothing existing changes. Promotions made before the upgrade have no row: their
evidence is issued on demand (``GET promotions/evidence``) while the gate still allows them.
The two documents are LONGTEXT on MySQL/MariaDB (TEXT stops at 64 KiB; a 2,000-file model's
bundle is ~0.5 MB). Created utf8mb4/binary there, as migration 0006 made every other table.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_DOCUMENT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def upgrade() -> None:
    op.create_table(
        "supplychain_promotion_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identity_digest", sa.String(71), nullable=False),
        sa.Column("workspace", sa.String(63), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("policy_digest", sa.String(71), nullable=False),
        sa.Column("attestation_id", sa.Integer, nullable=False),
        sa.Column("artifact_digest", sa.String(71), nullable=False),
        sa.Column("summary", _DOCUMENT, nullable=False),
        sa.Column("oms_bundle", _DOCUMENT, nullable=False),
        sa.Column("key_fingerprint", sa.String(71), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
    )
    op.create_index("supplychain_pe_identity", "supplychain_promotion_evidence",
                    ["identity_digest", "target"])


def downgrade() -> None:
    op.drop_index("supplychain_pe_identity", table_name="supplychain_promotion_evidence")
    op.drop_table("supplychain_promotion_evidence")
