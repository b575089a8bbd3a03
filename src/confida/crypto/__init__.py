"""Encryption at rest: per-subject data keys wrapped by a key-encryption key."""
