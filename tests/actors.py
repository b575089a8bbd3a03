"""The actors tests act as. ``ADMIN`` is what the CLI acts as (the register's ``admin`` role):
tests go through the same access decision as every caller, never around it."""

from __future__ import annotations

from confida.operation import Actor

ADMIN = Actor(id="test-admin", role="admin", source="cli")
