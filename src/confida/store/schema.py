"""Tables of the record store.

Nothing personal is stored in plaintext here. A subject is found by ``ref``, an HMAC of the
host application's identifier under a key held in the key store, and named in logs by a random
``pseudonym``. Record payloads are AES-256-GCM ciphertext; the only clear columns are metadata
the rules need (kind, purpose, deadlines) and a PII summary holding types and counts, not values.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from confida.audit.tables import define_tables
from confida.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

subject = Table(
    "subject",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("ref", String(64), unique=True, nullable=True),  # NULL once erased: a return is new
    Column("pseudonym", String(32), unique=True, nullable=False),
    Column("status", String(16), nullable=False, default="active"),  # active|restricted|erased
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status_changed_at", UTCDateTime(), nullable=True),
)

record = Table(
    "record",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("pii_summary", JSON(none_as_null=True), nullable=True),
    Column("dropped_fields", Integer, nullable=False, default=0),
    Column("consent_event_id", BigInteger, nullable=True),
    Column("legal_hold", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("retain_until", UTCDateTime(), nullable=False, index=True),
    # Grows on every re-seal (update, rectification, legal hold): part of the ciphertext's
    # associated data, so an older ciphertext copied back into the row does not open.
    Column("version", Integer, nullable=False, default=1),
)

consent_event = Table(
    "consent_event",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # grant | withdraw
    Column("at", UTCDateTime(), nullable=False),
    Column("source", String(16), nullable=False),  # api | cli | web | import
    Column("notice_version", String(64), nullable=True),
    Index("ix_consent_event_subject_purpose", "subject_id", "purpose", "id"),
)

# The pseudonymous references each downstream system (a training dataset, a processor, a cache)
# was given for a subject. The erasure feed lists them, so deletion can follow the data out.
downstream_ref = Table(
    "downstream_ref",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("system", String(128), nullable=False),  # e.g. "dataset:<id>"
    Column("reference", String(128), nullable=False),  # the pseudonym that system knows
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- training data and analytics ---
# Each training dataset exported: when, by whom, against which register, with which selection
# and counts. Its subject pseudonyms are rows of ``downstream_ref`` (system "dataset:<id>").
training_dataset = Table(
    "training_dataset",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("register_hash", String(64), nullable=False),
    Column("criteria", JSON(), nullable=False),  # selection criteria: kinds, purposes, rules
    Column("record_count", Integer, nullable=False),
    Column("subject_count", Integer, nullable=False),
    Column("manifest_sha256", String(64), nullable=True),
)

# Privacy budgets for differentially private analytics: one limit per analyst and dataset, and
# an append-only ledger of what each query spent (written in the query's own transaction).
privacy_budget = Table(
    "privacy_budget",
    metadata,
    Column("analyst", String(128), primary_key=True),
    Column("dataset", String(128), primary_key=True),
    Column("epsilon_limit", Float(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

privacy_spend = Table(
    "privacy_spend",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("analyst", String(128), nullable=False),
    Column("dataset", String(128), nullable=False),
    Column("query", String(32), nullable=False),  # count | sum | mean | histogram
    Column("epsilon", Float(), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_privacy_spend_analyst_dataset", "analyst", "dataset"),
)

# --- audit log ---
# The tamper-evident Merkle log (confida.audit) lives in the same store, so each operation's
# entry commits in the operation's own transaction.
audit_tables = define_tables(metadata)

# --- rights ---
# Data subject requests (Art. 12-22): one row per request, with its legal deadline. ``details``
# holds non-personal metadata only (record ids, counts, the records kept under Art. 17(3)).
subject_request = Table(
    "subject_request",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("verified_by", String(200), nullable=False),  # how the host verified identity
    Column("status", String(16), nullable=False),  # received, in_progress, extended, ...
    Column("idempotency_key", String(160), unique=True, nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False, index=True),
    Column("extended_months", Integer, nullable=False, default=0),
    Column("extension_reason", String(500), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("rejection_reason", String(500), nullable=True),
    Column("details", JSON(none_as_null=True), nullable=True),
)

# What a person wrote with a correction request (Art. 16: what is wrong, what it should be),
# sealed (AES-256-GCM) under the subject's data key and bound to the request and subject: the
# request row itself stays free of personal data, and erasing the person leaves this unreadable.
request_note = Table(
    "request_note",
    metadata,
    Column("request_id", String(36), ForeignKey("subject_request.id"), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Finding what an erasure must keep (legal hold, legal-obligation purposes) without reading all
# of a subject's records: the retain step, so the time to unreadable, is O(kept), not O(records).
Index("ix_record_subject_hold_purpose", record.c.subject_id, record.c.legal_hold, record.c.purpose)

# Art. 21 objections: processing for this purpose stops for this subject.
objection = Table(
    "objection",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("request_id", String(36), nullable=True),
    Index("ix_objection_subject_purpose", "subject_id", "purpose", unique=True),
)

# Records kept through an erasure under Art. 17(3): re-sealed under the subject's separate
# "retained" key, so that destroying the main data key does not destroy them.
retained_record = Table(
    "retained_record",
    metadata,
    Column("record_id", String(36), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("key_id", String(64), nullable=False),
    Column("ground", String(32), nullable=False),  # legal_obligation | legal_hold
    Column("retained_at", UTCDateTime(), nullable=False),
)

# The erasure feed: one notice per erasure, read by downstream systems with a ``since`` cursor.
# It carries only the references each downstream system was given, never the subject id.
erasure_notice = Table(
    "erasure_notice",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("request_id", String(36), unique=True, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("refs", JSON, nullable=False),  # [{"system": ..., "reference": ...}]
)

# --- api: credentials ---
# API keys for services and staff. Only a SHA-256 of the 256-bit secret is kept; ``id`` is the
# visible prefix printed in the key (``cfk_<id>_<secret>``), so a leaked key can be named and
# revoked without the secret ever being stored. ``label`` is an operator's note, not personal data.
api_key = Table(
    "api_key",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("role", String(64), nullable=False),
    Column("label", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# --- token map ---
# Reversible PII tokens (the ``tokenize`` operator) map back to values sealed under the
# subject's data key: erasing the subject makes every token issued for them irreversible.
token_map = Table(
    "token_map",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- transparency ---
# Personal-data breaches (Art. 33/34): what happened, what it touched (computed from kinds, a time
# window and compromised keys), the 72-hour clock and whether individuals must be told.
breach = Table(
    "breach",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),  # sealed (confida.breach)
    Column("discovered_at", UTCDateTime(), nullable=False),
    Column("occurred_from", UTCDateTime(), nullable=True),
    Column("occurred_to", UTCDateTime(), nullable=True),
    Column("kinds", JSON, nullable=False),  # record kinds named by the incident ([] = any)
    Column("kek_versions", JSON, nullable=False),  # KEK versions believed compromised
    Column("key_store_exposed", Boolean, nullable=False, default=False),
    Column("plaintext_exposed", Boolean, nullable=False, default=False),
    Column("affected_subjects", Integer, nullable=False, default=0),
    Column("affected_records", Integer, nullable=False, default=0),
    Column("categories", JSON, nullable=False),  # category names, never values
    Column("consequences", Text, nullable=True),  # sealed
    Column("measures", Text, nullable=True),  # sealed
    Column("created_at", UTCDateTime(), nullable=False),
    Column("authority_notified_at", UTCDateTime(), nullable=True),
    Column("subjects_notified_at", UTCDateTime(), nullable=True),
)

# The subjects a breach touched, so that individual notices (Art. 34) can reach them later.
breach_subject = Table(
    "breach_subject",
    metadata,
    Column("breach_id", String(36), ForeignKey("breach.id"), primary_key=True),
    Column("subject_id", String(36), primary_key=True),  # no FK: erasure must stay possible
)

# "Asked again": a subject whose consent was given against an older notice was shown the current
# one (Art. 7, 13(3)). The compliance check accepts a stale consent only with such a prompt.
notice_prompt = Table(
    "notice_prompt",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subject_id", String(36), ForeignKey("subject.id"), nullable=False, index=True),
    Column("purpose", String(64), nullable=False),
    Column("notice_version", String(64), nullable=False),
    Column("asked_at", UTCDateTime(), nullable=False),
)

# --- erasure journal ---
# One row per erased subject, written in the erasure's first transaction (before its key is
# destroyed) and completed in its last. The same entries are kept in the key store and in an
# append-only file (confida.erasure_journal): a restore replays whatever a store lacks. Only the
# internal subject id, its pseudonym, the request and its non-personal details; never the host's id.
erasure_journal = Table(
    "erasure_journal",
    metadata,
    Column("subject_id", String(36), primary_key=True),  # no FK: it must outlive any restore
    Column("request_id", String(36), nullable=False),
    Column("pseudonym", String(32), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("verified_by", String(200), nullable=True),
    Column("received_at", UTCDateTime(), nullable=True),
    Column("due_at", UTCDateTime(), nullable=True),
    Column("host_request", String(128), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("notice_id", BigInteger, nullable=True),
    Column("refs", JSON(none_as_null=True), nullable=True),
)

# --- privacy-center links and web sessions ---
# A privacy-center link is single-use: its token id is recorded here in the transaction that
# opens the session, so a second use (a leaked browser history, a forwarded mail) finds it.
subject_token_use = Table(
    "subject_token_use",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("used_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# The server side of a web session: the sealed cookie only names a row, so signing out, an
# erasure or a revoked API key ends the session at once, whatever the browser still holds.
web_session = Table(
    "web_session",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # subject | staff
    Column("subject_id", String(36), nullable=True, index=True),  # Confida's id, never the host's
    Column("actor_id", String(200), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("key_version", Integer, nullable=False),
)

# Versions of the session-cookie key (system keys ``web-session-v{N}``): the newest seals new
# sessions, the one before it still opens cookies sealed before a rotation, older ones nothing.
web_session_key = Table(
    "web_session_key",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- webhooks (confida.webhooks) ---
# Endpoints that receive a signed push of erasure notices and overdue request deadlines. The
# signing secret must be recoverable (every delivery is signed with it), so it is kept sealed
# (AES-256-GCM) under a system key of the key store, bound to the endpoint id; it is NULL once
# the endpoint is removed. ``erasure_cursor`` is the last erasure notice id enqueued for it.
webhook_endpoint = Table(
    "webhook_endpoint",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),  # ["erasure", "request.overdue"]
    Column("secret_sealed", LargeBinary, nullable=True),
    Column("erasure_cursor", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
)

# One event to push to one endpoint: pending until a 2xx answer (delivered) or until it has
# failed its last attempt (dead: the dead-letter list). ``id`` orders an endpoint's deliveries
# (sent one at a time, oldest first); ``event_key`` makes an event enqueue once per endpoint.
# ``last_error`` is a short reason ("HTTP 500", "timeout"), never a response body.
webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(40), unique=True, nullable=False),  # the webhook-id header
    Column("endpoint_id", String(36), ForeignKey("webhook_endpoint.id"), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("event_key", String(160), nullable=False),
    Column("event_at", UTCDateTime(), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Index("ix_webhook_delivery_endpoint_key", "endpoint_id", "event_key", unique=True),
    Index("ix_webhook_delivery_endpoint_status", "endpoint_id", "status", "id"),
)
# --- end webhooks ---
