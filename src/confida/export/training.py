"""Training datasets: what may leave the vault to improve models, and in what form.

Selection is decided at export time from the register and the ledgers, never from a list a
caller passes in:

- only kinds the training purpose covers, and never ``temporary_chat`` (excluded by the sample
  register *and* by the rule below, so a careless register cannot let it through);
- only subjects who are active (not restricted, not erased) and, for a consent-based purpose,
  whose consent is current -- or, for legitimate interests, who have not objected;
- only records within their own retention and within the training purpose's retention.

Each field is then anonymised by the kind's register policy (``export.anonymise``), subjects get
pseudonyms of this dataset only (kept in ``downstream_ref`` as ``dataset:<id>`` so erasure and
withdrawal can name the rows to drop), and the whole export -- criteria and counts, no values --
is one audited operation.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from confida import consent
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.downstream import record_refs
from confida.errors import BadInput, NotFound, PurposeNotAllowed, Refused
from confida.export.anonymise import FieldRule, anonymise_record, field_rules, keyed_ref
from confida.export.manifest import Manifest, Shard, shard_of, write_manifest
from confida.lawfulness import check_objection
from confida.operation import Actor, Operation
from confida.pii import Policy
from confida.record import decrypt_row, origins_for, purpose_view
from confida.register.models import LegalBasis
from confida.safe_files import OutputDir
from confida.store.schema import consent_event, downstream_ref, training_dataset
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault

TRAINING_PURPOSE = "model_training"
# Kinds that never leave for training, whatever the register says: a temporary chat is promised
# to be forgotten, and that promise does not depend on a register edit.
NEVER_EXPORTED = frozenset({"temporary_chat"})
FORMATS = ("jsonl", "parquet")
SYSTEM_PREFIX = "dataset:"
_CHUNK = 500


@dataclass(frozen=True)
class Selection:
    """What the caller asks for; the rules then narrow it down."""

    purpose: str = TRAINING_PURPOSE
    kinds: tuple[str, ...] | None = None  # default: every kind the purpose covers
    since: datetime | None = None  # records created at or after
    until: datetime | None = None  # records created before


@dataclass(frozen=True)
class ExportResult:
    dataset_id: str
    directory: Path
    record_count: int
    subject_count: int
    excluded: dict[str, int]
    shards: list[Shard] = field(default_factory=list)
    manifest_sha256: str = ""


# An anonymiser maps a list of (kind, fields) to anonymised field dicts, in order. The local one
# runs in this process; ``ray_redact.ray_anonymiser`` runs the same function on Ray workers.
Anonymiser = Callable[[list[tuple[str, dict[str, Any]]], dict[str, dict[str, FieldRule]], bytes],
                      list[dict[str, Any]]]


def local_anonymiser(
    items: list[tuple[str, dict[str, Any]]], rules: dict[str, dict[str, FieldRule]], key: bytes,
) -> list[dict[str, Any]]:
    policies = {
        kind: {f: Policy.from_dict(r.policy) for f, r in kr.items() if r.how == "text"}
        for kind, kr in rules.items()
    }
    return [anonymise_record(data, rules[kind], key, policies[kind]) for kind, data in items]


def _kinds(vault: Vault, sel: Selection) -> list[str]:
    purpose = vault.register.purpose(sel.purpose)
    if purpose.legal_basis not in (LegalBasis.consent, LegalBasis.legitimate_interests):
        raise PurposeNotAllowed(
            f"purpose {sel.purpose!r} rests on {purpose.legal_basis.value}; a training export "
            "needs consent or legitimate interests"
        )
    wanted = list(sel.kinds) if sel.kinds else list(purpose.kinds)
    for k in wanted:
        vault.register.kind(k)
        if k in NEVER_EXPORTED and sel.kinds:  # asked for by name: say no; else left out
            raise PurposeNotAllowed(f"records of kind {k!r} are never exported for training")
        if k not in purpose.kinds:
            raise PurposeNotAllowed(f"purpose {sel.purpose!r} does not cover kind {k!r}")
    kinds = [k for k in wanted if k not in NEVER_EXPORTED]
    if not kinds:
        raise PurposeNotAllowed(f"purpose {sel.purpose!r} covers no exportable kind")
    return kinds


def _check_policies(vault: Vault, rules: dict[str, dict[str, FieldRule]]) -> None:
    for kind, kr in rules.items():
        for name, r in kr.items():
            if r.how != "text":
                continue
            try:
                pol = Policy.from_dict(r.policy)
            except ValueError as exc:
                raise BadInput(f"kinds.{kind}.anonymization.{name}: {exc}") from None
            if "tokenize" in {pol.default.op, *(s.op for s in pol.rules.values())}:
                raise BadInput(
                    f"kinds.{kind}.anonymization.{name}: 'tokenize' is reversible and cannot be "
                    "used for data leaving the vault"
                )


def _eligible_subjects(
    vault: Vault, conn: Connection, subject_ids: Sequence[str], purpose: str,
    excluded: Counter[str],
) -> dict[str, Any]:
    """subject id -> Subject, for subjects whose data may be used for ``purpose`` now."""
    p = vault.register.purpose(purpose)
    out: dict[str, Any] = {}
    for i in range(0, len(subject_ids), _CHUNK):
        chunk = list(subject_ids[i : i + _CHUNK])
        rows = conn.execute(select(subject_t).where(subject_t.c.id.in_(chunk))).all()
        grants = consent.current_grants(conn, chunk, purpose) if p.consent_required else {}
        for row in rows:
            s = subjects.Subject(row.id, row.pseudonym, row.status, row.created_at)
            if s.status != subjects.ACTIVE:
                excluded[f"subject_{s.status}"] += 1
                continue
            if p.consent_required and s.id not in grants:
                excluded["no_consent"] += 1
                continue
            try:
                check_objection(vault.register, conn, s, purpose)
            except Refused:
                excluded["objected"] += 1
                continue
            out[s.id] = s
    return out


def _columns(vault: Vault, kinds: Sequence[str], purpose: str) -> list[tuple[str, str]]:
    """(column, field type) for the union of the exported fields, in register order."""
    allowed = set(vault.register.purpose(purpose).categories)
    cols: dict[str, str] = {}
    for k in kinds:
        for name, spec in vault.register.kind(k).fields.items():
            if spec.category in allowed and name not in cols:
                cols[name] = "string" if spec.type in ("datetime", "text") else spec.type
    return list(cols.items())


class _ShardWriter:
    """JSONL and Parquet shards of ``shard_size`` rows each, written as rows arrive."""

    def __init__(self, directory: Path, formats: Sequence[str], shard_size: int,
                 columns: list[tuple[str, str]]) -> None:
        import pyarrow as pa

        self.dir, self.formats, self.size = directory, list(formats), shard_size
        types = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
                 "boolean": pa.bool_()}
        self.schema = pa.schema(
            [("subject", pa.string()), ("record", pa.string()), ("kind", pa.string())]
            + [(c, types.get(t, pa.string())) for c, t in columns]
        )
        self.columns = [f.name for f in self.schema]
        self.buffer: list[dict[str, Any]] = []
        self.shards: list[Shard] = []
        self.n = 0

    def add(self, row: dict[str, Any]) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        rows = [{c: r.get(c) for c in self.columns} for r in self.buffer]
        for c, t in zip(self.columns, self.schema.types, strict=True):
            if str(t) == "string":
                for r in rows:
                    v = r[c]
                    if v is not None and not isinstance(v, str):
                        r[c] = json.dumps(v, ensure_ascii=False, sort_keys=True)
        stem = f"part-{self.n:05d}"
        if "jsonl" in self.formats:
            p = self.dir / f"{stem}.jsonl"
            with p.open("w", encoding="utf-8", newline="\n") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
            self.shards.append(shard_of(self.dir, p, "jsonl", len(rows)))
        if "parquet" in self.formats:
            import pyarrow as pa
            import pyarrow.parquet as pq

            p = self.dir / f"{stem}.parquet"
            pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), p)
            self.shards.append(shard_of(self.dir, p, "parquet", len(rows)))
        self.n += 1
        self.buffer = []


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def export_training(
    vault: Vault,
    out_dir: str | Path,
    *,
    selection: Selection | None = None,
    formats: Sequence[str] = FORMATS,
    shard_size: int = 50_000,
    actor: Actor,
    dataset_key: bytes | None = None,
    anonymiser: Anonymiser | None = None,
    batch_size: int = 5_000,
    force: bool = False,
) -> ExportResult:
    """Select, decrypt, anonymise and write a training dataset; record it and its pseudonyms.

    ``dataset_key`` (random by default, and then never stored) keys the dataset's pseudonyms;
    pass one only to reproduce an export byte for byte, as the benchmark does to compare the
    local and Ray anonymisers. ``anonymiser`` defaults to this process. The dataset is written
    under a temporary name beside ``out_dir`` and renamed into place; a non-empty ``out_dir`` is
    replaced only with ``force`` (``confida.safe_files``).
    """
    why = selection.purpose if selection else TRAINING_PURPOSE
    with vault.operation(Operation("export.training", actor, why)) as (conn, op):
        authorise(actor, "export", Resource(purpose=why), register=vault.register, op=op)
        sel = selection or Selection()
        fmts = list(dict.fromkeys(formats))
        if not fmts or any(f not in FORMATS for f in fmts):
            raise BadInput(f"--format: choose from {', '.join(FORMATS)} (or both)")
        if not 1 <= shard_size <= 10_000_000:
            raise BadInput("--shard-size must be between 1 and 10000000 records")
        kinds = _kinds(vault, sel)
        purpose = vault.register.purpose(sel.purpose)
        rules = {k: field_rules(vault.register.kind(k)) for k in kinds}
        _check_policies(vault, rules)
        key = dataset_key or secrets.token_bytes(32)
        anon = anonymiser or local_anonymiser
        out_dir = Path(out_dir)
        dataset_id = str(uuid.uuid4())
        criteria: dict[str, Any] = {
            "purpose": sel.purpose,
            "legal_basis": purpose.legal_basis.value,
            "kinds": kinds,
            "never_exported": sorted(NEVER_EXPORTED),
            "subjects": "active, " + ("current consent" if purpose.consent_required
                                      else "not objected"),
            "retention": f"record retention and {purpose.retention} for {sel.purpose}",
            "since": sel.since.isoformat() if sel.since else None,
            "until": sel.until.isoformat() if sel.until else None,
            "formats": fmts,
        }
        op.object_ids.append(SYSTEM_PREFIX + dataset_id)
        output = OutputDir(out_dir, force=force)
        tmp = output.path
        try:
            now = vault.clock()
            excluded: Counter[str] = Counter()
            # purpose binding: records collected for this purpose or one declared compatible
            bound = record_t.c.kind.in_(kinds) & record_t.c.purpose.in_(
                origins_for(vault, sel.purpose))
            base = select(record_t.c.subject_id).where(bound)
            if sel.since:
                base = base.where(record_t.c.created_at >= sel.since)
            if sel.until:
                base = base.where(record_t.c.created_at < sel.until)
            ids = sorted({r.subject_id for r in conn.execute(base.distinct())})
            eligible = _eligible_subjects(vault, conn, ids, sel.purpose, excluded)
            cols = _columns(vault, kinds, sel.purpose)
            writer = _ShardWriter(tmp, fmts, shard_size, cols)
            included: dict[str, str] = {}
            count = 0
            q = select(record_t).where(bound)
            if sel.since:
                q = q.where(record_t.c.created_at >= sel.since)
            if sel.until:
                q = q.where(record_t.c.created_at < sel.until)
            q = q.order_by(record_t.c.subject_id, record_t.c.created_at, record_t.c.id)
            subj_list = sorted(eligible)
            for i in range(0, len(subj_list), _CHUNK):
                chunk = subj_list[i : i + _CHUNK]
                keys = vault.keys.get_keys(set(chunk))
                rows = conn.execute(q.where(record_t.c.subject_id.in_(chunk)))
                for batch in _batches(rows, batch_size):
                    items: list[tuple[str, dict[str, Any]]] = []
                    refs: list[tuple[str, str]] = []
                    for row in batch:
                        if row.retain_until <= now:
                            excluded["past_retention"] += 1
                            continue
                        if purpose.retention.after(row.created_at) <= now:
                            excluded["past_purpose_retention"] += 1
                            continue
                        key_ = keys.get(row.subject_id)
                        if key_ is None:  # shredded between the checks: never exported
                            excluded["key_destroyed"] += 1
                            continue
                        view, _ = purpose_view(vault, row.kind, sel.purpose,
                                               decrypt_row(vault, row, key_))
                        items.append((row.kind, view))
                        refs.append((row.subject_id, row.id))
                    for (kind, _), (sid, rid), fields in zip(
                        items, refs, anon(items, rules, key), strict=True
                    ):
                        pseudo = included.get(sid)
                        if pseudo is None:
                            pseudo = included[sid] = keyed_ref(key, "subject", sid)
                        writer.add({"subject": pseudo, "record": keyed_ref(key, "record", rid),
                                    "kind": kind, **fields})
                        count += 1
            writer.flush()
            record_refs(vault, conn, SYSTEM_PREFIX + dataset_id, sorted(included.items()))
            reg = vault.register
            manifest = Manifest(
                dataset_id=dataset_id, created_at=now.isoformat(), purpose=sel.purpose,
                register_version=reg.version, register_hash=reg.content_hash(),
                record_count=count, subject_count=len(included), criteria=criteria,
                columns=writer.columns, shards=writer.shards,
            )
            digest = write_manifest(tmp, manifest)
            conn.execute(insert(training_dataset).values(
                id=dataset_id, created_at=now, actor=actor.id[:128], purpose=sel.purpose,
                register_hash=manifest.register_hash, criteria=criteria, record_count=count,
                subject_count=len(included), manifest_sha256=digest,
            ))
            op.subject_pseudonyms.extend(sorted(eligible[s].pseudonym for s in included))
            op.details.update({
                "dataset_id": dataset_id, "criteria": _flat(criteria), "record_count": count,
                "subject_count": len(included), "excluded": dict(sorted(excluded.items())),
                "shards": len(writer.shards), "manifest_sha256": digest,
            })
        except BaseException:
            output.discard()
            raise
    # Delivered only once recorded: a crash between the commit and the move leaves a dataset
    # on record that was never delivered (the next export clears its partial directory),
    # never a delivered dataset the vault cannot name in revocations and erasure notices.
    try:
        output.publish()
    except BaseException:
        output.discard()
        raise
    return ExportResult(dataset_id, out_dir, count, len(included), dict(excluded),
                        writer.shards, digest)


def _flat(criteria: dict[str, Any]) -> dict[str, Any]:
    """Criteria as the audit entry takes them: scalars only (lists joined with commas)."""
    return {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in criteria.items()}


# --- after the export: who must be dropped ---------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    pseudonym: str  # the dataset's pseudonym: the value of the ``subject`` column
    reason: str  # erased | restricted | consent_withdrawn | objected
    at: str | None


def _purpose_of(conn: Connection, dataset_id: str) -> str | None:
    """The purpose a dataset was exported for (None for no such dataset): what a decision on
    its revocations is about."""
    return conn.execute(
        select(training_dataset.c.purpose).where(training_dataset.c.id == dataset_id)
    ).scalar()


def revocations(
    vault: Vault, dataset_id: str, *, since: datetime | None = None, actor: Actor,
) -> list[Revocation]:
    """Pseudonyms of this dataset whose rows must go: erased, restricted, withdrawn, objected.

    ``since`` limits the list to changes after that time (a pipeline polls with the time of its
    last run); by default every change since the export is listed.
    """
    with vault.operation(Operation("export.revocations", actor, None,
                                   object_ids=[SYSTEM_PREFIX + str(dataset_id)])) as (conn, op):
        # the dataset names the purpose it was exported for: the decision is about that one
        authorise(actor, "export", Resource(purpose=_purpose_of(conn, str(dataset_id))),
                  register=vault.register, op=op)
        ds = conn.execute(
            select(training_dataset).where(training_dataset.c.id == str(dataset_id))
        ).first()
        if ds is None:
            raise NotFound("no such training dataset")
        cutoff = max(ds.created_at, since) if since else ds.created_at
        refs = conn.execute(
            select(downstream_ref.c.subject_id, downstream_ref.c.reference, subject_t.c.status,
                   subject_t.c.status_changed_at, subject_t.c.pseudonym)
            .join(subject_t, subject_t.c.id == downstream_ref.c.subject_id)
            .where(downstream_ref.c.system == SYSTEM_PREFIX + ds.id)
            .order_by(downstream_ref.c.id)
        ).all()
        out: list[Revocation] = []
        p = vault.register.purpose(ds.purpose)
        by_subject = {r.subject_id: r for r in refs}
        withdrawn: dict[str, datetime] = {}
        if p.consent_required:
            ids = list(by_subject)
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                current = consent.current_grants(conn, chunk, ds.purpose)
                for row in conn.execute(
                    select(consent_event.c.subject_id, consent_event.c.at)
                    .where(consent_event.c.subject_id.in_(chunk),
                           consent_event.c.purpose == ds.purpose,
                           consent_event.c.action == consent.WITHDRAW,
                           consent_event.c.at > cutoff)
                ):
                    if row.subject_id not in current:
                        prev = withdrawn.get(row.subject_id)
                        withdrawn[row.subject_id] = max(prev, row.at) if prev else row.at
        for sid, r in by_subject.items():
            changed = r.status_changed_at
            if r.status != subjects.ACTIVE and (changed is None or changed > cutoff):
                out.append(Revocation(r.reference, r.status,
                                      changed.isoformat() if changed else None))
            elif sid in withdrawn:
                out.append(Revocation(r.reference, "consent_withdrawn",
                                      withdrawn[sid].isoformat()))
            else:
                s = subjects.Subject(sid, r.pseudonym, r.status, ds.created_at)
                try:
                    check_objection(vault.register, conn, s, ds.purpose)
                except Refused:
                    at = _objected_at(conn, sid, ds.purpose)
                    if at is None or at > cutoff:
                        out.append(Revocation(r.reference, "objected",
                                              at.isoformat() if at else None))
        op.details.update({"dataset_id": ds.id, "count": len(out),
                           "reasons": dict(Counter(x.reason for x in out))})
    return out


def _objected_at(conn: Connection, subject_id: str, purpose: str) -> datetime | None:
    """When the subject objected to ``purpose`` (the rights module's ledger), if it says."""
    try:
        from confida.rights.objection import objections_of
    except ImportError:
        return None
    times = [o["at"] for o in objections_of(conn, subject_id) if o["purpose"] == purpose]
    return max(times) if times else None


def list_datasets(
    vault: Vault, *, actor: Actor, purpose: str | None = None
) -> list[dict[str, Any]]:
    """The training datasets exported so far (audited; ``purpose`` narrows and states why)."""
    with vault.operation(Operation("export.list", actor, purpose)) as (conn, op):
        authorise(actor, "export", Resource(purpose=purpose), register=vault.register, op=op)
        q = select(training_dataset)
        if purpose:
            q = q.where(training_dataset.c.purpose == purpose)
        rows = conn.execute(q.order_by(training_dataset.c.created_at)).all()
        op.details["count"] = len(rows)
        return [
            {"id": r.id, "created_at": r.created_at.isoformat(), "purpose": r.purpose,
             "records": r.record_count, "subjects": r.subject_count}
            for r in rows
        ]




def dataset_subjects(vault: Vault, dataset_id: str, *, actor: Actor,
                     purpose: str = TRAINING_PURPOSE) -> set[str]:
    """The ids of the subjects a dataset took (from the references recorded for it), so that
    whoever exported it can show that an opt-out reached the next export. Audited, for the
    purpose the dataset was exported for."""
    op = Operation("export.subjects", actor, purpose, object_ids=[SYSTEM_PREFIX + dataset_id])
    with vault.operation(op) as (conn, op):
        authorise(actor, "export", Resource(purpose=purpose), register=vault.register, op=op)
        found = conn.execute(select(training_dataset.c.purpose).where(
            training_dataset.c.id == dataset_id)).first()
        if found is None or found.purpose != purpose:
            raise NotFound("no such dataset for this purpose")
        rows = conn.execute(select(downstream_ref.c.subject_id).where(
            downstream_ref.c.system == SYSTEM_PREFIX + dataset_id)).all()
        op.details["count"] = len(rows)
    return {r.subject_id for r in rows}
