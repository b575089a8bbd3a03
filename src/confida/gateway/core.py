"""The privacy gateway's core: one call to an upstream model, decided, scrubbed and recorded.

:func:`prepare_call` runs before anything leaves, as one audited operation (``gateway.call``):

1. the caller may ``collect`` for the purpose (the prompt is stored) and ``detokenize`` (the
   answer is re-identified for it);
2. the end user (the subject) is found or created; a restricted, erased or objecting subject,
   or a consent-based purpose without consent, is refused;
3. every text the upstream would see (:mod:`confida.gateway.scrub`) is scanned, and each finding
   handled by the purpose's egress policy: ``tokenize`` (the default), ``redact`` or ``allow``;
   a SECRET refuses the call (it is never sent, and never stored);
4. the new tokens go into the vault's token map, sealed under the subject's data key (they
   survive restarts and die with erasure); the new turn is stored as records of the
   conversation kind, scanned as every record is;
5. the audit entry holds the subject's pseudonym, the purpose, the upstream host and, per label,
   how many values were tokenised, redacted or allowed -- never a value.

If detection, the vault or the key store fails, the operation fails (503) and nothing is sent.

Tokens are derived from the value under a key of the subject's own (HMAC-SHA256 with a subkey of
the data key): the same person's same value gets the same token in every turn, so the model
sees a consistent conversation, while two people's tokens, or one person's before and after
an erasure, have nothing in common.

:func:`finish_call` stores the answer (restored) under the id announced in the entry. No HTTP
framework here: the adapter is :mod:`confida.server.gateway_api`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from confida import consent
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.crypto import aead
from confida.errors import BadInput, ConfidaError, NotFound, Refused
from confida.gateway import scrub
from confida.gateway.restore import restore
from confida.lawfulness import check_objection
from confida.minimisation import minimise
from confida.operation import Actor, Operation
from confida.pii import Finding, detect
from confida.pii.anonymize import non_overlapping
from confida.pii.operators import TOKEN_RE
from confida.record import aad_of
from confida.store.conflict import insert_for
from confida.store.engine import transaction
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.store.schema import token_map
from confida.token_map import open_value as token_map_open
from confida.token_map import seal_value as token_map_seal
from confida.vault import Vault

DEFAULT_PURPOSE = "service"
TEMPORARY_PURPOSE = "temporary_chat"
CONVERSATION_KIND = "conversation_message"
TEMPORARY_KIND = "temporary_chat"
EGRESS_ACTIONS = ("tokenize", "redact", "allow")
#: The label of a value found because it was tokenised for the subject before.
KNOWN = "KNOWN"
MIN_KNOWN = 3
#: The most recent tokenised values of a subject looked for in each call.
MAX_KNOWN = 5000
ENDPOINTS = ("chat", "responses")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# --- errors --------------------------------------------------------------------------------------


class SecretInPrompt(Refused):
    """A secret (API key, password, private key) in a text that would leave: refused."""

    code = "secret-in-prompt"
    http_status = 400


class GatewayUnavailable(ConfidaError):
    """Detection, the vault or the key store failed: nothing was forwarded."""

    code = "gateway-unavailable"
    exit_code = 1
    http_status = 503


class UpstreamUnavailable(ConfidaError):
    """The upstream could not be reached or answered nothing usable."""

    code = "upstream-unavailable"
    exit_code = 1
    http_status = 502


# --- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRequest:
    """One call as the adapter received it; built by :func:`call_request`."""

    endpoint: str
    body: Mapping[str, Any]
    subject: str
    purpose: str
    kind: str
    temporary: bool
    conversation_id: str
    upstream_host: str
    stream: bool


def call_request(
    endpoint: str, body: Any, *, subject: str | None, purpose: str | None,
    temporary: bool, conversation_id: str | None, upstream_host: str,
) -> CallRequest:
    """Validate what the adapter read: who (``user`` or the subject header) and why."""
    if endpoint not in ENDPOINTS:
        raise BadInput(f"unknown endpoint {endpoint!r}")
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object")
    user = body.get("user")
    if subject is None and isinstance(user, str) and user:
        subject = user
    if not subject:
        raise BadInput("name the end user: the 'user' field or the Confida-Subject header")
    if temporary:
        if purpose not in (None, TEMPORARY_PURPOSE):
            raise BadInput(f"a temporary chat is stored under purpose {TEMPORARY_PURPOSE!r}; "
                           "do not send another Confida-Purpose with it")
        purpose, kind = TEMPORARY_PURPOSE, TEMPORARY_KIND
    else:
        purpose, kind = purpose or DEFAULT_PURPOSE, CONVERSATION_KIND
    conv = conversation_id or str(uuid.uuid4())
    if len(conv) > 128:
        raise BadInput("a conversation id is at most 128 characters")
    return CallRequest(endpoint, body, subject, purpose, kind, temporary, conv, upstream_host,
                       body.get("stream") is True)


# --- the egress policy ---------------------------------------------------------------------------


def egress_action(policy: Mapping[str, str], label: str) -> str:
    """What leaves for ``label`` under a purpose's ``egress`` mapping: SECRET is ``block``d
    whatever the mapping says (the register refuses to say otherwise); an unnamed label
    follows ``default``, and without one it is tokenised. A value already tokenised for the
    subject (``KNOWN``) is tokenised again."""
    if label == "SECRET":
        return "block"
    if label == KNOWN:
        return "tokenize"
    return policy.get(label) or policy.get("default") or "tokenize"


def _base62(raw: bytes, n: int) -> str:
    v = int.from_bytes(raw, "big")
    out = []
    for _ in range(n):
        v, r = divmod(v, 62)
        out.append(_ALPHABET[r])
    return "".join(out)


class _DetectionCache:
    """Findings of recently scanned texts, keyed by the detector and a SHA-256 of the text: a
    conversation's history and system prompt are sent again with every turn, and scanning them
    again would find the same. Holds offsets and labels only, never a text or a value."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._lru: OrderedDict[tuple[int, bytes], tuple[Finding, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, detector: Callable[[str], list[Finding]], text: str) -> list[Finding]:
        if len(text) < 64:  # short texts: hashing costs about what scanning does
            return list(detector(text))
        key = (id(detector), hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
        with self._lock:
            hit = self._lru.get(key)
            if hit is not None:
                self._lru.move_to_end(key)
                return list(hit)
        found = tuple(detector(text))
        with self._lock:
            self._lru[key] = found
            if len(self._lru) > self.size:
                self._lru.popitem(last=False)
        return list(found)


_detections = _DetectionCache()


class Scrubber:
    """Rewrites texts for the upstream under one subject's token key and a purpose's policy.

    Pure apart from ``detector`` (the PII detector, :func:`confida.pii.detect` by default)."""

    def __init__(self, token_key: bytes, policy: Mapping[str, str],
                 detector: Callable[[str], list[Finding]] | None = None,
                 known: Collection[str] = ()) -> None:
        self._key = hmac.new(token_key, b"confida-gateway-token", hashlib.sha256).digest()
        # values this subject already had tokenised: tokenised again wherever they reappear
        # (an answer restored into the next turn's history puts them in contexts where the
        # detector may not see them)
        usable = sorted({v for v in known if len(v) >= MIN_KNOWN}, key=len, reverse=True)
        self._known = re.compile(  # whole words only: "Jan" is not in "January"
            r"(?<!\w)(?:" + "|".join(map(re.escape, usable)) + r")(?!\w)") if usable else None
        self.policy = policy
        self.detector = detector or detect
        self.tokens: dict[str, str] = {}  # token -> value, issued in this call
        self.presented: set[str] = set()  # tokens the caller itself sent
        self.counts: dict[str, Counter[str]] = {a: Counter() for a in (*EGRESS_ACTIONS, "block")}
        self.findings: dict[str, list[Finding]] = {}

    def token_for(self, value: str) -> str:
        mac = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return "<TOK_" + _base62(mac.digest(), 24) + ">"

    def scan(self, text: str) -> list[Finding]:
        found = self.findings.get(text)
        if found is None:
            found = _detections.get(self.detector, text)
            if self._known is not None:
                found += [Finding(m.start(), m.end(), KNOWN) for m in self._known.finditer(text)]
            self.findings[text] = found
        return found

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if "<TOK_" in text:
            self.presented.update(TOKEN_RE.findall(text))
        parts: list[str] = []
        pos = 0
        for f in non_overlapping(self.scan(text), len(text)):
            action = egress_action(self.policy, f.label)
            self.counts[action][f.label] += 1
            if action == "allow":
                continue
            value = text[f.start:f.end]
            if action == "tokenize":
                rep = self.token_for(value)
                self.tokens[rep] = value
            else:  # redact; a secret is refused after the whole request was scanned
                rep = f"<{f.label}>"
            parts.append(text[pos:f.start])
            parts.append(rep)
            pos = f.end
        if not parts:
            return text
        parts.append(text[pos:])
        return "".join(parts)

    def summary(self) -> dict[str, dict[str, int]]:
        names = {"tokenize": "tokenized", "redact": "redacted", "allow": "allowed",
                 "block": "blocked"}
        return {names[a]: dict(sorted(c.items())) for a, c in self.counts.items() if c}


def prescan(endpoint: str, body: Mapping[str, Any]) -> None:
    """Scan the texts of a request ahead of :func:`prepare_call`, outside its transaction:
    the findings (offsets and labels, no value) go to the detection cache, so that the
    operation, which holds the store's writer lock, finds them there. Decides nothing and
    stores nothing; errors are left for :func:`prepare_call` to meet (and fail closed on)."""
    try:
        scrub.rewrite(endpoint, dict(body), lambda t: (_detections.get(detect, t), t)[1])
    except Exception:  # noqa: BLE001, S110 - prepare_call scans again and fails closed
        pass


# --- the call ------------------------------------------------------------------------------------


@dataclass
class PreparedCall:
    """What may leave (``body``) and what is needed to put the values back in the answer."""

    body: dict[str, Any]
    endpoint: str
    stream: bool
    purpose: str
    kind: str
    subject_id: str
    conversation_id: str
    answer_id: str
    model: str | None
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    sent: dict[str, dict[str, int]] = field(default_factory=dict)

    def lookup(self, token: str) -> str | None:
        """The value of a token issued for (or presented in) this call; others stay opaque."""
        return self.tokens.get(token)

    def restore(self, text: str) -> str:
        return restore(text, self.lookup)

    @property
    def tokens_sent(self) -> int:
        return sum(self.sent.get("tokenized", {}).values())


def prepare_call(vault: Vault, req: CallRequest, *, actor: Actor) -> PreparedCall:
    """Decide, scrub and record one call before it is forwarded (see the module docstring)."""
    with vault.operation(Operation("gateway.call", actor, req.purpose)) as (conn, op):
        authorise(actor, "collect", Resource(purpose=req.purpose), register=vault.register,
                  op=op)
        authorise(actor, "detokenize", Resource(purpose=req.purpose),
                  register=vault.register, op=op)
        reg = vault.register
        purpose = reg.purpose(req.purpose)
        if req.kind not in purpose.kinds:
            raise BadInput(f"purpose {req.purpose!r} does not cover the gateway's records "
                           f"(kind {req.kind!r})")
        op.details.update({"endpoint": req.endpoint, "stream": req.stream,
                           "upstream_host": req.upstream_host, "temporary": req.temporary})
        s = subjects.get_or_create(vault, conn, req.subject)
        op.subject_pseudonyms.append(s.pseudonym)
        subjects.ensure_processable(s)
        check_objection(reg, conn, s, req.purpose)
        grant_id = (consent.require_consent(conn, s.id, req.purpose)
                    if purpose.consent_required else None)
        try:
            key = vault.keys.get_key(s.id)
        except ConfidaError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the key store fails closed
            raise GatewayUnavailable(f"the key store failed ({type(exc).__name__}); nothing "
                                     "was sent") from None
        stored = _known_values(conn, s.id, key)
        scrubber = Scrubber(key, purpose.egress, known=stored.values())
        try:
            body = scrub.rewrite(req.endpoint, dict(req.body), scrubber)
            turn = scrub.new_turn(req.endpoint, dict(req.body))
        except ConfidaError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing detector fails closed
            raise GatewayUnavailable(f"personal data detection failed ({type(exc).__name__}); "
                                     "nothing was sent") from None
        op.details.update(scrubber.summary())  # per label: tokenized, redacted, allowed
        blocked = scrubber.counts["block"]
        if blocked:
            raise SecretInPrompt(
                f"the request holds {sum(blocked.values())} secret(s) (API keys, passwords or "
                "private keys); secrets are never sent to the model provider: remove them")
        _store_tokens(conn, vault, s.id, key, {t: v for t, v in scrubber.tokens.items()
                                               if t not in stored})
        tokens = dict(scrubber.tokens)
        tokens.update(_open_presented(conn, s.id, key, scrubber.presented - tokens.keys()))
        model = req.body.get("model") if isinstance(req.body.get("model"), str) else None
        ids = _store_turn(vault, conn, s.id, key, req, turn, scrubber, model, grant_id)
        answer_id = str(uuid.uuid4())
        op.object_ids.extend([*ids, answer_id])
        op.details.update({"stored": len(ids), "restorable": len(tokens)})
    return PreparedCall(body, req.endpoint, req.stream, req.purpose, req.kind, s.id,
                        req.conversation_id, answer_id, model, tokens, scrubber.summary())


def _store_tokens(conn: Connection, vault: Vault, subject_id: str, key: bytes,
                  tokens: Mapping[str, str]) -> None:
    if not tokens:
        return
    have = set(conn.execute(select(token_map.c.token).where(
        token_map.c.token.in_(list(tokens)))).scalars())
    now = vault.clock()
    rows = [{"token": t, "subject_id": subject_id, "created_at": now,
             "ciphertext": token_map_seal(key, t, subject_id, v)}
            for t, v in tokens.items() if t not in have]
    if rows:
        conn.execute(insert_for(conn, token_map).values(rows).on_conflict_do_nothing(
            index_elements=["token"]))


def _known_values(conn: Connection, subject_id: str, key: bytes) -> dict[str, str]:
    """The subject's tokens and their values (the most recent ``MAX_KNOWN``)."""
    rows = conn.execute(
        select(token_map.c.token, token_map.c.ciphertext)
        .where(token_map.c.subject_id == subject_id)
        .order_by(token_map.c.created_at.desc()).limit(MAX_KNOWN)).all()
    out = {}
    for row in rows:
        out[row.token] = token_map_open(key, row.token, subject_id, row.ciphertext)
    return out


def _open_presented(conn: Connection, subject_id: str, key: bytes,
                    presented: set[str]) -> dict[str, str]:
    """Tokens the caller sent back (from an earlier answer it kept opaque): this subject's
    only; another subject's or an erased subject's stay opaque."""
    if not presented:
        return {}
    out = {}
    rows = conn.execute(select(token_map).where(token_map.c.token.in_(sorted(presented)),
                                                token_map.c.subject_id == subject_id)).all()
    for row in rows:
        try:
            out[row.token] = token_map_open(key, row.token, subject_id, row.ciphertext)
        except (NotFound, ConfidaError):
            continue
    return out


def _record_row(vault: Vault, subject_id: str, key: bytes, kind: str, purpose: str,
                data: dict[str, Any], summary: dict[str, int], grant_id: int | None,
                record_id: str | None = None) -> dict[str, Any]:
    reg = vault.register
    m = minimise(kind, reg.kind(kind), reg.purpose(purpose), data,
                 max_bytes=vault.config.max_record_bytes)
    now = vault.clock()
    rid = record_id or str(uuid.uuid4())
    until = reg.retention_for(kind, purpose).after(now)
    plaintext = json.dumps(m.data, ensure_ascii=False, separators=(",", ":"),
                           sort_keys=True).encode()
    return {"id": rid, "subject_id": subject_id, "kind": kind, "purpose": purpose,
            "ciphertext": aead.seal(key, plaintext,
                                    aad_of(rid, subject_id, kind, purpose, 1, until, False)),
            "version": 1, "pii_summary": summary or None, "dropped_fields": m.dropped,
            "consent_event_id": grant_id, "legal_hold": False, "created_at": now,
            "updated_at": now, "retain_until": until}


def _message(vault: Vault, kind: str, conversation_id: str, role: str, text: str,
             model: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"conversation_id": conversation_id, "text": text, "role": role,
                            "model": model, "created_at": vault.clock().isoformat()}
    fields = vault.register.kind(kind).fields
    return {k: v for k, v in data.items() if k in fields and v is not None}


def _summary(findings: list[Finding]) -> dict[str, int]:
    return dict(sorted(Counter(f.label for f in findings).items()))


def _store_turn(vault: Vault, conn: Connection, subject_id: str, key: bytes, req: CallRequest,
                turn: list[tuple[str, str]], scrubber: Scrubber, model: str | None,
                grant_id: int | None) -> list[str]:
    rows = [
        _record_row(vault, subject_id, key, req.kind, req.purpose,
                    _message(vault, req.kind, req.conversation_id, role, text, model),
                    _summary(scrubber.scan(text)), grant_id)
        for role, text in turn if text
    ]
    if rows:
        conn.execute(insert(record_t), rows)
    return [r["id"] for r in rows]


def finish_call(vault: Vault, call: PreparedCall, answer: str) -> bool:
    """Store the (restored) answer under the id the call's audit entry announced; False when
    it could not be (the subject was erased meanwhile, or the store is down): the answer was
    already given, and the call's entry stands."""
    return finish_calls(vault, [(call, answer)]) == 1


def finish_calls(vault: Vault, answers: list[tuple[PreparedCall, str]]) -> int:
    """:func:`finish_call` for many calls in one transaction (the adapter batches the answers
    of concurrent calls); how many answers were stored. The answers of a subject erased or
    restricted meanwhile, or whose key is gone, are dropped."""
    todo = [(c, a) for c, a in answers if a]
    if not todo:
        return 0
    try:
        keys = vault.keys.get_keys({c.subject_id for c, _ in todo})
        rows = []
        for call, answer in todo:
            key = keys.get(call.subject_id)
            if key is None:
                continue
            data = _message(vault, call.kind, call.conversation_id, "assistant", answer,
                            call.model)
            rows.append(_record_row(vault, call.subject_id, key, call.kind, call.purpose, data,
                                    vault.scan(answer), None, call.answer_id))
        if not rows:
            return 0
        with transaction(vault.engine) as conn:
            ok = set(conn.execute(select(subject_t.c.id).where(
                subject_t.c.id.in_(sorted({r["subject_id"] for r in rows})),
                subject_t.c.status == subjects.ACTIVE)).scalars())
            rows = [r for r in rows if r["subject_id"] in ok]
            if rows:
                conn.execute(insert(record_t), rows)
    except ConfidaError:
        return 0
    return len(rows)
