"""The ``confida`` command line: a thin adapter over the core.

Each command parses its input, calls one core function and prints the result (``--json`` for
scripts). Core errors map to exit codes: 1 refused by a rule, 2 bad input or usage.
"""

from __future__ import annotations

from confida.cli.app import app, main

__all__ = ["app", "main"]
