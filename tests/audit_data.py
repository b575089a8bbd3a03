"""Plain helpers of the audit tests (no fixtures: those are in audit_fixtures.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

ORIGIN = "test.confida.example/audit"


@dataclass
class Db:
    engine: Engine
    schema: str | None


def make_entry(i: int, **over: object) -> dict[str, object]:
    """A typical entry; nothing personal, the subject is a pseudonym."""
    entry: dict[str, object] = {
        "time": "2026-11-28T00:00:00+00:00",
        "actor": "svc:chat-api",
        "action": "record.read",
        "purpose": "service",
        "object_ids": [f"rec_{i:08d}"],
        "subject": f"psn_{i % 97:06x}",
        "outcome": ("allowed", "denied", "failed")[i % 3],
        "details": {"fields": 3, "n": i},
    }
    entry.update(over)
    return entry
