"""Our own tables in the MLflow database. All prefixed ``supplychain_``; MLflow's are never touched.

Schema changes go through Alembic migrations in ``governance/migrations`` (own version table
``supplychain_alembic_version``), never ``create_all``, so upgrades are safe on a shared
PostgreSQL database with several server workers.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import LONGTEXT

VERSION_TABLE = "supplychain_alembic_version"
DIGEST_LEN = 71  # "sha256:" + 64 hex
WORKSPACE_LEN = 63  # MLflow's workspace column
FORMAT_LEN = 40  # a registered attestation format name
# MySQL's TEXT holds 64 KiB; attestations and envelopes carry whole manifests (0007, 0008)
LONG_TEXT = Text().with_variant(LONGTEXT(), "mysql", "mariadb")

# Per-version evidence (attestations, requests and through them approvals) is keyed by the
# version's immutable identity (``version_identity``): ``identity_digest`` is what lookups
# filter on; ``model_name``/``version``/``workspace`` are for people and listings. Rows from
# before migration 0004 have no identity and are never evidence.

metadata = MetaData()
# MySQL/MariaDB: compare names byte for byte as SQLite and PostgreSQL do (migration 0004
# converts the existing tables). A migration that creates a table must pass these too.
MYSQL_CHARSET, MYSQL_COLLATE = "utf8mb4", "utf8mb4_bin"

transition_requests = Table(
    "supplychain_transition_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(256), nullable=False),
    Column("version", String(32), nullable=False),
    Column("target", String(300), nullable=False),
    Column("requester", String(256), nullable=False),
    Column("comment", Text, nullable=True),
    Column("status", String(20), nullable=False),
    Column("evidence_digest", String(DIGEST_LEN), nullable=False),
    Column("policy_digest", String(DIGEST_LEN), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("resolved_by", String(256), nullable=True),
    Column("resolution_comment", Text, nullable=True),
    Column("workspace", String(WORKSPACE_LEN), nullable=True),
    Column("identity_digest", String(DIGEST_LEN), nullable=True),
    Index("supplychain_tr_model_version", "model_name", "version"),
    Index("supplychain_tr_identity", "identity_digest"),
    Index("supplychain_tr_status", "status"),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

approvals = Table(
    "supplychain_approvals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer,
           ForeignKey("supplychain_transition_requests.id", ondelete="CASCADE"), nullable=False),
    Column("approver", String(256), nullable=False),
    Column("approver_groups", Text, nullable=False),
    Column("evidence_digest", String(DIGEST_LEN), nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # the registry-signed DSSE envelope of the approval statement; NULL before 0008
    Column("envelope", Text, nullable=True),
    UniqueConstraint("request_id", "approver", name="supplychain_approval_once"),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

audit_events = Table(
    "supplychain_audit_events", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(600), nullable=False),
    Column("payload", Text, nullable=False),
    Column("policy_digest", String(DIGEST_LEN), nullable=False),
    Column("prev_hash", String(DIGEST_LEN), nullable=False),
    Column("hash", String(DIGEST_LEN), nullable=False),
    Index("supplychain_audit_ts", "ts"),
    # A model's audit trail is a range on subject ("models:/<name>/...").
    Index("supplychain_audit_subject", "subject"),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

# One row (id=1): the chain's head. Appenders update it first, which serialises them on both
# PostgreSQL (row lock) and SQLite (database write lock), so the chain never forks.
audit_head = Table(
    "supplychain_audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(DIGEST_LEN), nullable=False),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

# Signed scan attestations (sidecar). Rows are only evidence while their signature verifies
# with the server's public key; the latest row (highest id) for a version is the one that counts.
scan_attestations = Table(
    "supplychain_scan_attestations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(256), nullable=False),
    Column("version", String(32), nullable=False),
    Column("artifact_digest", String(DIGEST_LEN), nullable=False),
    Column("payload", LONG_TEXT, nullable=False),
    Column("signature", String(128), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("workspace", String(WORKSPACE_LEN), nullable=True),
    Column("identity_digest", String(DIGEST_LEN), nullable=True),
    # the registered format of 'payload' (integrity/attestation_formats); NULL: the original
    # signed payload (every row written before 0008)
    Column("format", String(FORMAT_LEN), nullable=True),
    Index("supplychain_att_model_version", "model_name", "version"),
    Index("supplychain_att_identity", "identity_digest"),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

# Every policy a server process has loaded, by digest: the canonical JSON whose digest it is, so
# any past decision (audit records carry the policy digest) can be shown with the policy that
# made it, and legacy scan attestations (which signed the whole policy digest) can be judged by
# the format policy they were made under. Rows are written once and never changed.
policy_history = Table(
    "supplychain_policy_history", metadata,
    Column("digest", String(DIGEST_LEN), primary_key=True),
    Column("format_digest", String(DIGEST_LEN), nullable=False),
    Column("content", Text, nullable=False),
    Column("first_loaded_at", BigInteger, nullable=False),
    Column("source", String(600), nullable=False),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

# The policy each server process serves now (one row per host + pid), refreshed on load,
# reload and status; the status endpoint lists them so operators see every process converge.
policy_servers = Table(
    "supplychain_policy_servers", metadata,
    Column("process", String(300), primary_key=True),
    Column("digest", String(DIGEST_LEN), nullable=False),
    Column("loaded_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Index("supplychain_ps_seen", "seen_at"),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)

# What the registry signed when it promoted a version (migration 0007): a SLSA verification
# summary (DSSE envelope) and an OMS bundle over the files of the scan attestation the gate
# judged. Keyed by the version's identity, the target and the policy digest; a row is evidence
# only for the version whose identity it names, under that policy, while that attestation is
# still the newest (``governance/promotion_evidence.py``). Written once, never changed.
promotion_evidence = Table(
    "supplychain_promotion_evidence", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity_digest", String(DIGEST_LEN), nullable=False),
    Column("workspace", String(WORKSPACE_LEN), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", String(32), nullable=False),
    Column("target", String(300), nullable=False),
    Column("policy_digest", String(DIGEST_LEN), nullable=False),
    Column("attestation_id", Integer, nullable=False),
    Column("artifact_digest", String(DIGEST_LEN), nullable=False),
    Column("summary", LONG_TEXT, nullable=False),
    Column("oms_bundle", LONG_TEXT, nullable=False),
    Column("key_fingerprint", String(DIGEST_LEN), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("supplychain_pe_identity", "identity_digest", "target"),
    mysql_charset=MYSQL_CHARSET, mysql_collate=MYSQL_COLLATE,
)
