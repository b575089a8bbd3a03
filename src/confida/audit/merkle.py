"""RFC 9162 Merkle tree hashing, proof construction and proof verification.

Everything here is a pure function of its arguments, so the same code serves the database-backed
log, the in-memory tree the verifier rebuilds from an export, and the tests.

Vocabulary used throughout:

* A *node* ``(level, idx)`` is the root of the perfect subtree covering leaves
  ``[idx * 2**level, (idx + 1) * 2**level)``. Level 0 nodes are leaf hashes. Only such perfect,
  aligned subtrees are ever stored: they never change once complete, which is what makes the log
  append-only at the storage level as well.
* A *range* ``(lo, hi)`` is a subtree of the RFC 9162 tree structure. Every range that occurs in
  a proof is either a perfect node or the right edge of a tree, and its hash is the right fold of
  the perfect nodes it decomposes into (:func:`range_nodes`). Proofs are therefore computed from
  O(log n) stored node hashes, never by rehashing the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "NodeSource",
    "ProofError",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "range_nodes",
    "root_from_leaves",
    "split_point",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: RFC 9162 section 2.1.1: the hash of an empty list is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]


class ProofError(ValueError):
    """A proof did not verify, or a proof was asked for that cannot exist."""


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``: the prefix keeps leaves and inner nodes in separate domains."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``), RFC 9162's ``k``."""
    if n < 2:
        raise ValueError("split point needs n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """Merkle tree hash of a list of leaf hashes, in one pass and O(log n) memory.

    Keeps a stack of completed perfect subtrees (at most one per level); the final root is their
    right fold, exactly the RFC 9162 ``MTH`` definition.
    """
    stack: list[bytes] = []
    count = 0
    for h in leaf_hashes:
        count += 1
        c = count
        while c & 1 == 0:  # each trailing zero bit of the new count completes one more level
            h = node_hash(stack.pop(), h)
            c >>= 1
        stack.append(h)
    if not stack:
        return EMPTY_ROOT
    acc = stack.pop()
    while stack:
        acc = node_hash(stack.pop(), acc)
    return acc


# --------------------------------------------------------------------------------------------
# Ranges and their decomposition into stored perfect nodes
# --------------------------------------------------------------------------------------------


def range_nodes(lo: int, hi: int) -> list[Node]:
    """The perfect nodes whose right fold is the hash of range ``[lo, hi)``, left to right.

    Valid for every range of the RFC 9162 tree shape: ``lo`` is aligned to the largest block.
    """
    if not 0 <= lo < hi:
        raise ValueError(f"empty or negative range [{lo}, {hi})")
    nodes: list[Node] = []
    pos = lo
    while pos < hi:
        size = hi - pos
        level = size.bit_length() - 1  # largest block that fits ...
        while pos & ((1 << level) - 1):  # ... and is aligned at pos
            level -= 1
        nodes.append((level, pos >> level))
        pos += 1 << level
    return nodes


def fold_nodes(hashes: Sequence[bytes]) -> bytes:
    """Right fold ``H(h0, H(h1, ... H(h[-2], h[-1])))``: the hash of a right-edge range."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


class NodeSource(Protocol):
    """Anything that can hand out stored perfect-node hashes: the database, or a MemoryTree."""

    def get_nodes(self, nodes: Sequence[Node]) -> Mapping[Node, bytes]:
        """Return the hash of every requested node; raise if one is missing."""
        ...


def range_hash(source: NodeSource, lo: int, hi: int) -> bytes:
    """Hash of the subtree over ``[lo, hi)`` from O(log n) stored nodes."""
    nodes = range_nodes(lo, hi)
    found = source.get_nodes(nodes)
    return fold_nodes([found[n] for n in nodes])


def _ranges_hashes(source: NodeSource, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """Resolve many ranges with a single ``get_nodes`` call (one database round trip)."""
    per_range = [range_nodes(lo, hi) for lo, hi in ranges]
    wanted = list(dict.fromkeys(n for nodes in per_range for n in nodes))
    found = source.get_nodes(wanted) if wanted else {}
    return [fold_nodes([found[n] for n in nodes]) for nodes in per_range]


def root_hash(source: NodeSource, size: int) -> bytes:
    """Root of the tree of the first ``size`` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return range_hash(source, 0, size)


# --------------------------------------------------------------------------------------------
# Proof construction (RFC 9162 sections 2.1.3.1 and 2.1.4.1), as lists of ranges
# --------------------------------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form ``PATH(index, D[0:size])``, leaf side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    lo, hi = 0, size
    top_down: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo = lo + k
    top_down.reverse()
    return top_down


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form ``PROOF(size1, D[0:size2])`` (empty when the sizes are equal)."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    # SUBPROOF(m, D[lo:hi], b) unrolled: collect the sibling ranges top-down, then reverse.
    m, lo, hi, complete = size1, 0, size2, True
    top_down: list[tuple[int, int]] = []
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            m -= k
            lo = lo + k
            complete = False
    if not complete:
        top_down.append((lo, hi))
    top_down.reverse()
    return top_down


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of size ``size``, from stored nodes."""
    return _ranges_hashes(source, inclusion_ranges(index, size))


def consistency_proof(source: NodeSource, size1: int, size2: int) -> list[bytes]:
    """Consistency proof between tree sizes ``size1 <= size2``, from stored nodes."""
    return _ranges_hashes(source, consistency_ranges(size1, size2))


# --------------------------------------------------------------------------------------------
# Proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
# --------------------------------------------------------------------------------------------


def _check_hashes(proof: Sequence[bytes]) -> None:
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("proof element is not a SHA-256 hash")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` under
    ``root`` of a tree of ``size`` leaves."""
    if index < 0 or index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError("leaf hash is not a SHA-256 hash")
    _check_hashes(proof)
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree ``(size2, root2)`` extends the
    tree ``(size1, root1)``.

    Equal sizes need an empty proof and equal roots. A proof from size 0 is refused: every tree
    extends the empty tree, so such a "proof" proves nothing and accepting one hides bugs in the
    caller; an empty tree must, moreover, have the empty-string root.
    """
    if size1 < 0 or size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ProofError("an empty tree must have the empty root")
        return
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hashes(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is a node of tree 2
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root")


# --------------------------------------------------------------------------------------------
# An in-memory tree: what the verifier rebuilds from an export
# --------------------------------------------------------------------------------------------


class MemoryTree:
    """All perfect node hashes of a tree, level by level, in flat ``bytearray`` buffers.

    Flat buffers keep a million-leaf tree at ~64 MB instead of ~150 MB of ``bytes`` objects, and
    a parent is one hash over a 64-byte slice of its level (``H(0x01 || level[64i:64i+64])``).
    """

    def __init__(self, levels: list[bytearray]) -> None:
        self.levels = levels

    @classmethod
    def from_leaf_hashes(cls, leaves: bytearray | bytes) -> MemoryTree:
        """Build every complete level from the concatenated leaf hashes."""
        if len(leaves) % HASH_SIZE:
            raise ValueError("leaf buffer is not a whole number of hashes")
        levels = [bytearray(leaves)]
        sha = hashlib.sha256
        while len(levels[-1]) >= 2 * HASH_SIZE:
            below = levels[-1]
            pairs = len(below) // (2 * HASH_SIZE)
            mv = memoryview(below)
            up = bytearray()
            for i in range(pairs):
                up += sha(NODE_PREFIX + mv[64 * i : 64 * i + 64]).digest()
            levels.append(up)
        return cls(levels)

    @property
    def size(self) -> int:
        return len(self.levels[0]) // HASH_SIZE if self.levels else 0

    def node(self, level: int, idx: int) -> bytes | None:
        """Hash of node ``(level, idx)``, or None if the tree holds no such complete node."""
        if level >= len(self.levels):
            return None
        buf = self.levels[level]
        start = idx * HASH_SIZE
        if idx < 0 or start + HASH_SIZE > len(buf):
            return None
        return bytes(buf[start : start + HASH_SIZE])

    def get_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        out: dict[Node, bytes] = {}
        for n in nodes:
            h = self.node(*n)
            if h is None:
                raise KeyError(f"node {n} is not in a tree of size {self.size}")
            out[n] = h
        return out

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self, self.size if size is None else size)
