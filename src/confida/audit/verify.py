"""The verifier: trusts nothing but the public key, recomputes the whole tree, checks every
signed checkpoint and the consistency between consecutive ones, and names the first bad entry.

Checkpoints kept outside the log (the witness file, notes fetched by external witnesses) are
checked apart from the log's own: in any order and of any age, each must be signed by the key
and be a prefix of the live tree. A log shorter than, or forked from, a witnessed checkpoint
fails, whatever its own checkpoints say.

A signed restore record in the witness file (``confida.audit.restore_record``) explains the
witnessed checkpoints before it that a log restored from a backup no longer reaches: those are
reported as lost, not failed, provided the log extends the restored state. Without a valid
record, a shortened log fails as before.

The same procedure serves a live database and an export; the only difference is where entries,
stored hashes and notes come from. Stored hashes are never trusted: they are used as *hints*
to pinpoint a bad entry, and only along paths that authenticate against a signed root.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from confida.audit.checkpoint import Checkpoint, NoteError, VerifierKey, open_note, parse_checkpoint
from confida.audit.entry import CANONICAL_ENCODER
from confida.audit.merkle import (
    HASH_SIZE,
    LEAF_PREFIX,
    MemoryTree,
    NodeSource,
    ProofError,
    consistency_proof,
    node_hash,
    range_hash,
    split_point,
    verify_consistency,
)
from confida.audit.restore_record import RestoreRecord, open_restore
from confida.audit.witness import WitnessedNote, WitnessedRestore

__all__ = ["VerifyResult", "locate_first_bad", "verify_log"]


@dataclass
class VerifyResult:
    """Outcome of a verification.

    ``first_bad_index`` is the smallest entry index found bad. When ``exact`` is False it is a
    lower bound: the entry there or a later one (before the next checkpoint) was altered, and
    the stored hashes that would have pinpointed it were altered too.
    """

    ok: bool = True
    size: int = 0
    checkpoints: int = 0
    verified_size: int = 0
    witnessed: int = 0
    witnessed_size: int = 0
    first_bad_index: int | None = None
    exact: bool = True
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    restore: dict[str, object] | None = None  # the latest restore record, when there is one
    restore_message: str | None = None
    lost_witnessed: int = 0  # witnessed checkpoints a restore explains (not in this log)

    def fail(self, message: str, index: int | None = None, exact: bool = True) -> None:
        """Record an error; keep the smallest bad index (exact wins a tie)."""
        self.ok = False
        self.errors.append(message)
        if index is None:
            return
        if self.first_bad_index is None or index < self.first_bad_index:
            self.first_bad_index, self.exact = index, exact
        elif index == self.first_bad_index and exact:
            self.exact = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def locate_first_bad(
    trusted_root: bytes,
    size: int,
    recomputed: MemoryTree,
    hints: NodeSource | None,
    floor: int = 0,
) -> tuple[int, bool]:
    """Find the first leaf below ``size`` whose recomputed hash differs from what was signed.

    Walks down from the signed root. At each step a pair of child hashes (stored hints or
    recomputed ones) must hash to the trusted value, so each step is as trustworthy as the
    signature. Where nothing authenticates (the stored hashes were rewritten too) the walk stops
    and the best lower bound is returned with ``exact=False``. ``recomputed`` must hold at least
    ``size`` leaves.
    """
    lo, hi, t = 0, size, trusted_root
    while hi - lo > 1:
        k = split_point(hi - lo)
        rl = range_hash(recomputed, lo, lo + k)
        rr = range_hash(recomputed, lo + k, hi)
        hl = _hint(hints, lo, lo + k)
        hr = _hint(hints, lo + k, hi)
        if hr is not None and node_hash(rl, hr) == t:
            lo, t = lo + k, hr  # the recomputed left half is authentic: the fault is right
        elif hl is not None and node_hash(hl, rr) == t:
            hi, t = lo + k, hl  # the recomputed right half is authentic: the fault is left
        elif hl is not None and hr is not None and node_hash(hl, hr) == t:
            if rl != hl:
                hi, t = lo + k, hl
            else:
                lo, t = lo + k, hr
        else:
            return max(lo, floor), False
    return lo, True


def _hint(hints: NodeSource | None, lo: int, hi: int) -> bytes | None:
    if hints is None:
        return None
    try:
        return range_hash(hints, lo, hi)
    except LookupError:
        return None


_DECODER = json.JSONDecoder()


def _check_stored_nodes(
    result: VerifyResult, tree: MemoryTree, stored_nodes: Iterable[tuple[int, int, bytes]]
) -> None:
    """Compare the stored nodes (ordered by level, idx) with the recomputed tree, level by level.

    No entry index is named for a mismatching node: it is either a corrupt node (no entry is
    bad) or the echo of a bad entry, which the leaf hashes or the descent from a signed root
    locate more precisely. Nodes beyond the entries do name the first missing entry.
    """
    stored: dict[int, bytearray] = {}
    out_of_sequence: set[int] = set()
    for level, idx, h in stored_nodes:
        buf = stored.setdefault(level, bytearray())
        if level in out_of_sequence:
            continue
        if level < 1 or idx * HASH_SIZE != len(buf) or len(h) != HASH_SIZE:
            result.fail(f"stored node ({level}, {idx}) is out of sequence (missing or extra rows)")
            out_of_sequence.add(level)
            continue
        buf += h
    n = tree.size
    for level in range(1, max(len(tree.levels), max(stored, default=0) + 1)):
        if level in out_of_sequence:
            continue
        mine = tree.levels[level] if level < len(tree.levels) else bytearray()
        theirs = stored.get(level, bytearray())
        if theirs == mine:
            continue
        common = min(len(mine), len(theirs))
        first = next(
            (
                k
                for k in range(0, common, HASH_SIZE)
                if mine[k : k + HASH_SIZE] != theirs[k : k + HASH_SIZE]
            ),
            None,
        )
        if first is not None:
            result.fail(
                f"stored node ({level}, {first // HASH_SIZE}) does not match the entries under it"
            )
        elif len(theirs) > len(mine):
            result.fail(f"stored node ({level}, {common // HASH_SIZE}) lies beyond the entries", n)
        else:
            missing = (len(mine) - len(theirs)) // HASH_SIZE
            result.fail(
                f"{missing} stored subtree hashes of level {level} are missing "
                "(entries were written outside the log)"
            )


def verify_log(
    entries: Iterable[tuple[int, bytes, bytes | None]],
    notes: Sequence[str],
    verifier: VerifierKey,
    *,
    origin: str | None = None,
    hints: NodeSource | None = None,
    stored_nodes: Iterable[tuple[int, int, bytes]] | None = None,
    head_size: int | None = None,
    require_checkpoint: bool = True,
    witnessed: Sequence[WitnessedNote | WitnessedRestore] = (),
) -> VerifyResult:
    """Verify a log given as ``(index, canonical entry bytes, stored leaf hash or None)``.

    ``notes`` are the log's own signed checkpoints in the order they were issued. ``stored_nodes``
    (live database only) are compared with the recomputed tree so a tampered node table, which
    would make every proof served from it wrong, is found too. ``witnessed`` are checkpoints kept
    outside the log, in any order: the log must extend every one of them, unless a signed
    restore record (also passed in ``witnessed``) that follows it covers its size.
    """
    result = VerifyResult()

    # 1. Entries: contiguous indices, canonical JSON, leaf hash recomputed from the bytes.
    # This loop runs a million times per million entries: names are bound locally and the
    # leaf hash and canonical check are inlined.
    sha256, decode, encode = hashlib.sha256, _DECODER.decode, CANONICAL_ENCODER.encode
    leaves = bytearray()
    n = 0
    for idx, raw, stored in entries:
        if idx != n:
            result.fail(f"entry {n} is missing (next stored index is {idx})", n)
            break
        h = sha256(LEAF_PREFIX + raw).digest()
        try:
            text = raw.decode("utf-8")
            value = decode(text)
            canonical = type(value) is dict and encode(value) == text
        except ValueError:  # also UnicodeDecodeError, and NaN refused by the encoder
            canonical = False
        if not canonical:
            result.fail(f"entry {n} is not canonical JSON", n)
        if stored is not None and stored != h:
            result.fail(f"entry {n} does not match its stored leaf hash", n)
        leaves += h
        n += 1
    result.size = n
    tree = MemoryTree.from_leaf_hashes(leaves)
    del leaves

    if head_size is not None and head_size != n:
        result.fail(
            f"the log head says {head_size} entries but {n} are stored", min(head_size, n)
        )

    # 2. Stored subtree hashes (live only): every one must equal the recomputed one.
    if stored_nodes is not None:
        _check_stored_nodes(result, tree, stored_nodes)

    # 3. Checkpoints: signature, origin, root against the recomputed tree, consistency.
    prev: Checkpoint | None = None
    signed = 0  # notes whose signature verified, whether or not they match the entries
    for i, note in enumerate(notes):
        label = f"checkpoint {i + 1}"
        try:
            text, _ = open_note(note, verifier)
            cp = parse_checkpoint(text)
        except NoteError as exc:
            result.fail(f"{label}: {exc}", result.verified_size, exact=False)
            continue
        signed += 1
        if origin is None:
            origin = cp.origin
        if cp.origin != origin:
            result.fail(f"{label}: origin {cp.origin!r}, expected {origin!r}")
            continue
        if prev is not None and cp.size < prev.size:
            result.fail(f"{label}: tree size {cp.size} is smaller than the previous {prev.size}")
            continue
        if cp.size > n:
            result.fail(f"{label}: signed at size {cp.size} but only {n} entries are present", n)
            continue
        if tree.root(cp.size) != cp.root:
            bad, exact = locate_first_bad(cp.root, cp.size, tree, hints, result.verified_size)
            result.fail(
                f"{label}: the entries do not hash to the signed root at size {cp.size}",
                bad,
                exact,
            )
            continue
        if prev is not None:
            try:
                proof = consistency_proof(tree, prev.size, cp.size) if prev.size else []
                if prev.size:
                    verify_consistency(prev.size, cp.size, prev.root, cp.root, proof)
            except ProofError as exc:
                result.fail(f"{label}: not consistent with the previous checkpoint: {exc}")
                continue
        prev = cp
        result.checkpoints += 1
        result.verified_size = max(result.verified_size, cp.size)

    # 4. Witnessed checkpoints: the log may not be shorter than, nor fork from, any of them.
    restores = _check_restores(
        result, tree, [w for w in witnessed if isinstance(w, WitnessedRestore)], verifier, origin
    )
    checkpoints = [w for w in witnessed if not isinstance(w, WitnessedRestore)]
    signed += _check_witnessed(result, tree, checkpoints, verifier, origin, hints, restores)
    if witnessed and result.ok and prev is not None and prev.size > result.witnessed_size:
        result.warnings.append(
            f"the log's checkpoint at size {prev.size} is not witnessed (newest witnessed: "
            f"{result.witnessed_size}); if this persists, the witness file is not being written"
        )

    if signed == 0 and n > 0 and require_checkpoint:
        result.fail("no valid signed checkpoint vouches for this log", 0, exact=False)
    elif result.verified_size < n:
        result.warnings.append(
            f"entries {result.verified_size}..{n - 1} are not yet covered by a signed checkpoint"
        )
    return result


def _check_restores(
    result: VerifyResult,
    tree: MemoryTree,
    records: Sequence[WitnessedRestore],
    verifier: VerifierKey,
    origin: str | None,
) -> list[tuple[RestoreRecord, WitnessedRestore]]:
    """Open every restore record (a bad signature fails the log: a forged restore explains
    nothing); the log must extend the state the latest one restored."""
    valid: list[tuple[RestoreRecord, WitnessedRestore]] = []
    for w in records:
        try:
            rec = open_restore(w.note, verifier)
        except NoteError as exc:
            result.fail(f"restore record ({w.source}): {exc}")
            continue
        if origin is not None and rec.origin != origin:
            result.fail(f"restore record ({w.source}): origin {rec.origin!r}, expected {origin!r}")
            continue
        valid.append((rec, w))
    if not valid:
        return valid
    latest, w = max(valid, key=lambda item: (item[0].restored_at, item[1].order or ("", 0)))
    n = tree.size
    if latest.restored_size > n:
        result.fail(
            f"the log has {n} entries but the restore of {latest.restored_at} left "
            f"{latest.restored_size} ({w.source}): entries were removed after the restore",
            n,
        )
    elif tree.root(latest.restored_size) != latest.restored_root:
        result.fail(
            f"the log's first {latest.restored_size} entries differ from the state restored at "
            f"{latest.restored_at} ({w.source})",
            0,
            exact=False,
        )
    result.restore = latest.to_dict()
    result.restore_message = latest.describe()
    return valid


def _explained(
    cp: Checkpoint, w: WitnessedNote, restores: Sequence[tuple[RestoreRecord, WitnessedRestore]]
) -> RestoreRecord | None:
    """A valid restore record that accounts for the log not reaching witnessed ``cp``: it comes
    after ``cp`` in the same witness file (or either has no position), and ``cp`` lies in the
    range it says was lost."""
    for rec, r in restores:
        if not rec.restored_size < cp.size <= rec.before_size:
            continue
        if w.order and r.order and w.order[0] == r.order[0] and w.order[1] > r.order[1]:
            continue  # witnessed after this restore: the log must extend it
        return rec
    return None


def _check_witnessed(
    result: VerifyResult,
    tree: MemoryTree,
    witnessed: Sequence[WitnessedNote],
    verifier: VerifierKey,
    origin: str | None,
    hints: NodeSource | None,
    restores: Sequence[tuple[RestoreRecord, WitnessedRestore]] = (),
) -> int:
    """Check each witnessed note against the recomputed tree; return how many are signed.

    Unlike the log's own checkpoints, witnessed ones come in no particular order and an older
    one is as good as a newer: each is checked on its own, so verifying an intact log with an
    old published checkpoint passes, and a newer witnessed checkpoint than the log fails.
    """
    n = tree.size
    signed = 0
    newest: Checkpoint | None = None
    opened: list[tuple[Checkpoint, WitnessedNote]] = []
    for w in witnessed:
        try:
            text, _ = open_note(w.note, verifier)
            opened.append((parse_checkpoint(text), w))
        except NoteError as exc:
            result.fail(f"witnessed checkpoint ({w.source}): {exc}")
    floor = 0  # the largest witnessed size the log matches: nothing below it was rewritten
    for cp, w in sorted(opened, key=lambda item: item[0].size):
        source = w.source
        label = f"witnessed checkpoint ({source})"
        signed += 1
        if origin is None:
            origin = cp.origin
        if cp.origin != origin:
            result.fail(f"{label}: origin {cp.origin!r}, expected {origin!r}")
            continue
        if (cp.size > n or tree.root(cp.size) != cp.root) and _explained(cp, w, restores):
            result.lost_witnessed += 1  # witnessed before a restore that says it was lost
            continue
        if cp.size > n:
            result.fail(
                f"the log has {n} entries but a witnessed checkpoint covers {cp.size} ({source}):"
                " entries were removed",
                n,
            )
            continue
        if tree.root(cp.size) != cp.root:
            bad, exact = locate_first_bad(cp.root, cp.size, tree, hints, floor)
            result.fail(
                f"{label}: the log's root at the witnessed size {cp.size} differs from the "
                "witnessed root (the history was rewritten or forked)",
                bad,
                exact,
            )
            continue
        floor = cp.size
        result.witnessed += 1
        result.verified_size = max(result.verified_size, cp.size)
        if newest is None or cp.size > newest.size:
            newest = cp
    if newest is not None and newest.size:
        # The live tree extends the newest witnessed checkpoint: prove it as a client would.
        try:
            proof = consistency_proof(tree, newest.size, n)
            verify_consistency(newest.size, n, newest.root, tree.root(n), proof)
        except ProofError as exc:  # unreachable when the root matched; kept as the contract
            result.fail(f"not consistent with the witnessed checkpoint {newest.size}: {exc}")
            return signed
    if newest is not None:
        result.witnessed_size = newest.size
    return signed
