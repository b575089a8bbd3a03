"""Tables of the key store, a database apart from the records.

A backup of the record store therefore holds no key; erasing a subject deletes one row here,
after which every copy of their ciphertext, wherever it is, stays unreadable.
"""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, MetaData, String, Table

from confida.store.schema import NAMING
from confida.store.types import UTCDateTime

key_metadata = MetaData(naming_convention=NAMING)

kek_version = Table(
    "kek_version",
    key_metadata,
    Column("version", String(32), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # rotating | active | retired | destroyed
    Column("created_at", UTCDateTime(), nullable=False),
    # when a rotation finished and left it unused; ``keys retire`` destroys it a window later
    Column("retired_at", UTCDateTime(), nullable=True),
    Column("destroyed_at", UTCDateTime(), nullable=True),
)

data_key = Table(
    "data_key",
    key_metadata,
    Column("key_id", String(64), primary_key=True),  # subject id, or "system:<name>"
    Column("kek_version", String(32), nullable=False, index=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# The erasure journal's copy in the key store: which subjects were erased, and by which request.
# A record store restored from before an erasure is repaired from it (confida.erasure_journal).
erasure_journal = Table(
    "erasure_journal",
    key_metadata,
    Column("subject_id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
