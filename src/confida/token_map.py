"""The vault's token store for reversible PII tokenisation (``confida.pii`` ``tokenize``).

Each value is sealed under its subject's data key, with the token and subject bound in the
associated data. Destroying the key on erasure turns every token issued for the person into an
opaque string, in the vault and in any copy or backup of this table.

Turning tokens back into values is re-identification, so it is a core operation of its own
(:func:`detokenize`): authorised for a purpose, audited with counts only. Looking a token up
never creates a subject: an unknown or erased person's tokens simply stay opaque.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from confida import consent
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.crypto import aead
from confida.errors import BadInput, KeyUnavailable, NotFound
from confida.lawfulness import check_objection
from confida.operation import Actor, Operation
from confida.pii import deanonymize
from confida.store.engine import transaction
from confida.store.schema import token_map
from confida.vault import Vault

MAX_TEXTS = 10_000


def _aad(token: str, subject_id: str) -> bytes:
    return aead.associated_data("token", token, subject_id)


def seal_value(key: bytes, token: str, subject_id: str, value: str) -> bytes:
    """``value`` sealed under the subject's data ``key``, bound to its token and subject."""
    return aead.seal(key, value.encode("utf-8", "surrogatepass"), _aad(token, subject_id))


def open_value(key: bytes, token: str, subject_id: str, sealed: bytes) -> str:
    """The value :func:`seal_value` sealed; raises when the key, token or subject differ."""
    raw = aead.open_sealed(key, sealed, _aad(token, subject_id), "token")
    return raw.decode("utf-8", "surrogatepass")


def _open(vault: Vault, conn: Connection, subject_id: str, token: str) -> str | None:
    row = conn.execute(
        select(token_map.c.subject_id, token_map.c.ciphertext).where(token_map.c.token == token)
    ).first()
    if row is None or row.subject_id != subject_id:
        return None
    try:
        key = vault.keys.get_key(row.subject_id)
        return open_value(key, token, row.subject_id, row.ciphertext)
    except (NotFound, KeyUnavailable):
        return None  # the subject was erased: the token no longer means anything


class SubjectTokenStore:
    """A :class:`confida.pii.TokenStore` scoped to one data subject.

    The subject row is created only when a first token is stored (a new tokenisation), never by
    a lookup; an erased or restricted subject gets no new token.
    """

    def __init__(self, vault: Vault, external_id: str) -> None:
        self.vault = vault
        self._external_id = external_id
        with vault.engine.connect() as conn:
            s = subjects.find(vault, conn, external_id)
        self.subject_id: str | None = s.id if s is not None else None

    def put(self, token: str, value: str) -> None:
        with transaction(self.vault.engine) as conn:
            s = (
                subjects.by_id(conn, self.subject_id)
                if self.subject_id is not None
                else subjects.get_or_create(self.vault, conn, self._external_id)
            )
            subjects.ensure_processable(s)
        self.subject_id = s.id
        key = self.vault.keys.get_key(s.id)
        sealed = seal_value(key, token, s.id, value)
        with transaction(self.vault.engine) as conn:
            conn.execute(delete(token_map).where(token_map.c.token == token))
            conn.execute(
                insert(token_map).values(
                    token=token, subject_id=s.id, ciphertext=sealed,
                    created_at=self.vault.clock(),
                )
            )

    def get(self, token: str) -> str | None:
        if self.subject_id is None:
            return None
        with self.vault.engine.connect() as conn:
            return _open(self.vault, conn, self.subject_id, token)


@dataclass(frozen=True)
class Detokenized:
    """The texts with the subject's tokens put back; ``opaque`` tokens could not be (unknown,
    another subject's, or erased)."""

    texts: list[str]
    restored: int
    opaque: int


class _Lookup:
    """A read-only token store inside one operation's transaction, counting what it did."""

    def __init__(self, vault: Vault, conn: Connection, subject_id: str | None) -> None:
        self.vault, self.conn, self.subject_id = vault, conn, subject_id
        self.restored = self.opaque = 0

    def put(self, token: str, value: str) -> None:  # pragma: no cover - never tokenises
        raise NotImplementedError

    def get(self, token: str) -> str | None:
        value = (
            None if self.subject_id is None
            else _open(self.vault, self.conn, self.subject_id, token)
        )
        if value is None:
            self.opaque += 1
        else:
            self.restored += 1
        return value


def detokenize(
    vault: Vault,
    external_id: str,
    texts: str | Sequence[str],
    purpose: str,
    *,
    actor: Actor,
) -> Detokenized:
    """Put the values of one subject's ``tokenize`` tokens back into ``texts``, for ``purpose``.

    Re-identification is processing of the person's data: the role needs the ``detokenize``
    action and the purpose; the subject must not be restricted or have objected, and a
    consent-based purpose needs consent in force. The audit entry holds counts, never values.
    """
    with vault.operation(Operation("pii.detokenize", actor, purpose)) as (conn, op):
        authorise(actor, "detokenize", Resource(purpose=purpose), register=vault.register,
                  op=op)
        items = [texts] if isinstance(texts, str) else list(texts)
        if len(items) > MAX_TEXTS:
            raise BadInput(f"at most {MAX_TEXTS} texts at a time")
        s = subjects.find(vault, conn, external_id)
        subject_id = None
        if s is not None and s.status not in (subjects.ERASED, subjects.ERASING):
            op.subject_pseudonyms.append(s.pseudonym)
            subjects.ensure_processable(s)
            check_objection(vault.register, conn, s, purpose)
            if vault.register.purpose(purpose).consent_required:
                consent.require_consent(conn, s.id, purpose)
            subject_id = s.id
        lookup = _Lookup(vault, conn, subject_id)
        out = [deanonymize(t, lookup) for t in items]
        op.details.update(
            {"texts": len(items), "restored": lookup.restored, "opaque": lookup.opaque}
        )
    return Detokenized(out, lookup.restored, lookup.opaque)
