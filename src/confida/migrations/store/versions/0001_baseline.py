"""The record store: subjects, records, consent, rights, audit log, tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-30

The one baseline: every table as of the first release. Later revisions are numbered from here
(``0002_...``), so the file names show the order.
"""

import sqlalchemy as sa
from alembic import op

import confida.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    op.create_index(
        op.f("ix_audit_checkpoint_tree_size"), "audit_checkpoint", ["tree_size"], unique=False
    )
    op.create_table(
        "audit_entry",
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_audit_entry")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_audit_node"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "breach",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("discovered_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("occurred_from", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("occurred_to", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("kek_versions", sa.JSON(), nullable=False),
        sa.Column("key_store_exposed", sa.Boolean(), nullable=False),
        sa.Column("plaintext_exposed", sa.Boolean(), nullable=False),
        sa.Column("affected_subjects", sa.Integer(), nullable=False),
        sa.Column("affected_records", sa.Integer(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("consequences", sa.Text(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "authority_notified_at", confida.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "subjects_notified_at", confida.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach")),
    )
    op.create_table(
        "erasure_journal",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=True),
        sa.Column("at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=True),
        sa.Column("received_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("host_request", sa.String(length=128), nullable=True),
        sa.Column("completed_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notice_id", sa.BigInteger(), nullable=True),
        sa.Column("refs", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_erasure_journal")),
    )
    op.create_table(
        "erasure_notice",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_notice")),
        sa.UniqueConstraint("request_id", name=op.f("uq_erasure_notice_request_id")),
    )
    op.create_table(
        "privacy_budget",
        sa.Column("analyst", sa.String(length=128), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("epsilon_limit", sa.Float(), nullable=False),
        sa.Column("updated_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("analyst", "dataset", name=op.f("pk_privacy_budget")),
    )
    op.create_table(
        "privacy_spend",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("analyst", sa.String(length=128), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("query", sa.String(length=32), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_spend")),
    )
    op.create_index(
        "ix_privacy_spend_analyst_dataset", "privacy_spend", ["analyst", "dataset"], unique=False
    )
    op.create_table(
        "subject",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status_changed_at", confida.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_subject_pseudonym")),
        sa.UniqueConstraint("ref", name=op.f("uq_subject_ref")),
    )
    op.create_table(
        "subject_token_use",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("used_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_subject_token_use")),
    )
    op.create_table(
        "training_dataset",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("register_hash", sa.String(length=64), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_dataset")),
    )
    op.create_table(
        "web_session",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=True),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_actor_id"), "web_session", ["actor_id"], unique=False)
    op.create_index(op.f("ix_web_session_subject_id"), "web_session", ["subject_id"], unique=False)
    op.create_table(
        "web_session_key",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_web_session_key")),
    )
    op.create_table(
        "breach_subject",
        sa.Column("breach_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breach.id"], name=op.f("fk_breach_subject_breach_id_breach")
        ),
        sa.PrimaryKeyConstraint("breach_id", "subject_id", name=op.f("pk_breach_subject")),
    )
    op.create_table(
        "consent_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_consent_event_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_event")),
    )
    op.create_index(
        "ix_consent_event_subject_purpose",
        "consent_event",
        ["subject_id", "purpose", "id"],
        unique=False,
    )
    op.create_table(
        "downstream_ref",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("system", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_downstream_ref_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downstream_ref")),
    )
    op.create_index(
        op.f("ix_downstream_ref_subject_id"), "downstream_ref", ["subject_id"], unique=False
    )
    op.create_table(
        "notice_prompt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("asked_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_notice_prompt_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_prompt")),
    )
    op.create_index(
        op.f("ix_notice_prompt_subject_id"), "notice_prompt", ["subject_id"], unique=False
    )
    op.create_table(
        "objection",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_objection_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection")),
    )
    op.create_index(
        "ix_objection_subject_purpose", "objection", ["subject_id", "purpose"], unique=True
    )
    op.create_table(
        "record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("pii_summary", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("dropped_fields", sa.Integer(), nullable=False),
        sa.Column("consent_event_id", sa.BigInteger(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retain_until", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_record_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record")),
    )
    op.create_index(op.f("ix_record_retain_until"), "record", ["retain_until"], unique=False)
    op.create_index(
        "ix_record_subject_hold_purpose",
        "record",
        ["subject_id", "legal_hold", "purpose"],
        unique=False,
    )
    op.create_index(op.f("ix_record_subject_id"), "record", ["subject_id"], unique=False)
    op.create_table(
        "retained_record",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("ground", sa.String(length=32), nullable=False),
        sa.Column("retained_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_retained_record_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_retained_record")),
    )
    op.create_index(
        op.f("ix_retained_record_subject_id"), "retained_record", ["subject_id"], unique=False
    )
    op.create_table(
        "subject_request",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("received_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("extended_months", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.String(length=500), nullable=True),
        sa.Column("closed_at", confida.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=500), nullable=True),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_subject_request_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_request")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_subject_request_idempotency_key")),
    )
    op.create_index(op.f("ix_subject_request_due_at"), "subject_request", ["due_at"], unique=False)
    op.create_index(
        op.f("ix_subject_request_subject_id"), "subject_request", ["subject_id"], unique=False
    )
    op.create_table(
        "token_map",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", confida.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subject.id"], name=op.f("fk_token_map_subject_id_subject")
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_token_map")),
    )
    op.create_index(op.f("ix_token_map_subject_id"), "token_map", ["subject_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_token_map_subject_id"), table_name="token_map")
    op.drop_table("token_map")
    op.drop_index(op.f("ix_subject_request_subject_id"), table_name="subject_request")
    op.drop_index(op.f("ix_subject_request_due_at"), table_name="subject_request")
    op.drop_table("subject_request")
    op.drop_index(op.f("ix_retained_record_subject_id"), table_name="retained_record")
    op.drop_table("retained_record")
    op.drop_index(op.f("ix_record_subject_id"), table_name="record")
    op.drop_index("ix_record_subject_hold_purpose", table_name="record")
    op.drop_index(op.f("ix_record_retain_until"), table_name="record")
    op.drop_table("record")
    op.drop_index("ix_objection_subject_purpose", table_name="objection")
    op.drop_table("objection")
    op.drop_index(op.f("ix_notice_prompt_subject_id"), table_name="notice_prompt")
    op.drop_table("notice_prompt")
    op.drop_index(op.f("ix_downstream_ref_subject_id"), table_name="downstream_ref")
    op.drop_table("downstream_ref")
    op.drop_index("ix_consent_event_subject_purpose", table_name="consent_event")
    op.drop_table("consent_event")
    op.drop_table("breach_subject")
    op.drop_table("web_session_key")
    op.drop_index(op.f("ix_web_session_subject_id"), table_name="web_session")
    op.drop_index(op.f("ix_web_session_actor_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_table("training_dataset")
    op.drop_table("subject_token_use")
    op.drop_table("subject")
    op.drop_index("ix_privacy_spend_analyst_dataset", table_name="privacy_spend")
    op.drop_table("privacy_spend")
    op.drop_table("privacy_budget")
    op.drop_table("erasure_notice")
    op.drop_table("erasure_journal")
    op.drop_table("breach")
    op.drop_table("audit_node")
    op.drop_table("audit_head")
    op.drop_table("audit_entry")
    op.drop_index(op.f("ix_audit_checkpoint_tree_size"), table_name="audit_checkpoint")
    op.drop_table("audit_checkpoint")
    op.drop_table("api_key")
