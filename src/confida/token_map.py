"""The vault's token store for reversible PII tokenisation (``confida.pii`` ``tokenize``).

Each value is sealed under its subject's data key, with the token and subject bound in the
associated data. Destroying the key on erasure turns every token issued for the person into an
opaque string, in the vault and in any copy or backup of this table.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from confida import subject as subjects
from confida.crypto import aead
from confida.errors import KeyUnavailable, NotFound
from confida.store.engine import transaction
from confida.store.schema import token_map
from confida.vault import Vault


def _aad(token: str, subject_id: str) -> bytes:
    return aead.associated_data("token", token, subject_id)


class SubjectTokenStore:
    """A :class:`confida.pii.TokenStore` scoped to one data subject."""

    def __init__(self, vault: Vault, external_id: str) -> None:
        self.vault = vault
        with transaction(vault.engine) as conn:
            s = subjects.get_or_create(vault, conn, external_id)
        subjects.ensure_processable(s)
        self.subject_id = s.id

    def put(self, token: str, value: str) -> None:
        key = self.vault.keys.get_key(self.subject_id)
        sealed = aead.seal(key, value.encode("utf-8"), _aad(token, self.subject_id))
        with transaction(self.vault.engine) as conn:
            conn.execute(delete(token_map).where(token_map.c.token == token))
            conn.execute(
                insert(token_map).values(
                    token=token, subject_id=self.subject_id, ciphertext=sealed,
                    created_at=self.vault.clock(),
                )
            )

    def get(self, token: str) -> str | None:
        with self.vault.engine.connect() as conn:
            row = conn.execute(
                select(token_map.c.subject_id, token_map.c.ciphertext).where(
                    token_map.c.token == token
                )
            ).first()
        if row is None or row.subject_id != self.subject_id:
            return None
        try:
            key = self.vault.keys.get_key(row.subject_id)
            raw = aead.open_sealed(key, row.ciphertext, _aad(token, row.subject_id), "token")
        except (NotFound, KeyUnavailable):
            return None  # the subject was erased: the token no longer means anything
        return raw.decode("utf-8")
