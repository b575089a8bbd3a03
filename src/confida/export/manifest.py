"""The manifest of a training dataset: what it is, against which register, and its shards.

A downstream pipeline checks each shard's SHA-256 against the manifest before training, and
keeps the dataset id: it is what the erasure feed and ``confida export revocations`` name when
rows have to be dropped later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Shard:
    path: str  # relative to the dataset directory
    format: str  # jsonl | parquet
    records: int
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    dataset_id: str
    created_at: str
    purpose: str
    register_version: int
    register_hash: str
    record_count: int
    subject_count: int
    criteria: dict[str, Any]
    columns: list[str]
    shards: list[Shard] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        doc = json.loads(text)
        doc["shards"] = [Shard(**s) for s in doc.get("shards", [])]
        return cls(**doc)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shard_of(directory: Path, path: Path, fmt: str, records: int) -> Shard:
    return Shard(
        path=path.relative_to(directory).as_posix(), format=fmt, records=records,
        sha256=sha256_file(path), bytes=path.stat().st_size,
    )


def write_manifest(directory: Path, manifest: Manifest) -> str:
    """Write ``manifest.json``; returns its SHA-256 (kept in the vault with the dataset)."""
    raw = manifest.to_json().encode()
    (directory / MANIFEST_NAME).write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def verify(directory: Path) -> list[str]:
    """Problems found (empty when every shard is present and matches its hash)."""
    manifest = Manifest.from_json((directory / MANIFEST_NAME).read_text("utf-8"))
    problems = []
    for s in manifest.shards:
        p = directory / s.path
        if not p.is_file():
            problems.append(f"{s.path}: missing")
        elif sha256_file(p) != s.sha256:
            problems.append(f"{s.path}: hash mismatch")
    return problems
