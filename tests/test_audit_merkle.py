"""Pure Merkle functions: the shared RFC 9162 test vectors, a naive reference, property tests."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confida.audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors" / "merkle"
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def test_vectors_are_present() -> None:
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98
    assert (VECTORS / "LICENSE").exists()


@pytest.mark.parametrize("path", INCLUSION, ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        [_b64(p) for p in case["proof"] or []],
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH written as literally as possible, as the reference."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_hash_domains() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert root_from_leaves([]) == EMPTY_ROOT


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 100])
def test_roots_match_reference(n: int) -> None:
    leaves = _leaves(n)
    tree = MemoryTree.from_leaf_hashes(b"".join(leaves))
    assert root_from_leaves(leaves) == _mth(leaves) == tree.root()
    for m in range(1, n + 1):
        assert tree.root(m) == _mth(leaves[:m])


def test_range_nodes_decomposition() -> None:
    assert range_nodes(0, 8) == [(3, 0)]
    assert range_nodes(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert range_nodes(8, 13) == [(2, 2), (0, 12)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_memory_tree_proofs_verify_and_bit_flips_fail(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300), label="size")
    tree = MemoryTree.from_leaf_hashes(b"".join(_leaves(n)))
    m = data.draw(st.integers(0, n - 1), label="index")
    proof = inclusion_proof(tree, m, n)
    verify_inclusion(tree.node(0, m), m, n, proof, tree.root())
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = list(proof)
        bad[i] = bytes(b ^ (1 << (bit % 8)) if j == bit // 8 else b for j, b in enumerate(bad[i]))
        with pytest.raises(ProofError):
            verify_inclusion(tree.node(0, m), m, n, bad, tree.root())
    size1 = data.draw(st.integers(1, n), label="size1")
    cproof = consistency_proof(tree, size1, n)
    verify_consistency(size1, n, tree.root(size1), tree.root(), cproof)
    if cproof:
        i = data.draw(st.integers(0, len(cproof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = list(cproof)
        bad[i] = bytes(b ^ (1 << (bit % 8)) if j == bit // 8 else b for j, b in enumerate(bad[i]))
        with pytest.raises(ProofError):
            verify_consistency(size1, n, tree.root(size1), tree.root(), bad)
