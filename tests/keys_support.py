"""Byte scans of live SQLite files without touching this process's locks on them.

On POSIX, closing any descriptor of a file drops every lock the process holds on it, so a test
that ``open()``s a database its own vault has open can make SQLite believe it is the last
connection. The scan therefore runs in a child process, which holds no lock to lose.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCAN = """
import sys
needles = [bytes.fromhex(h) for h in sys.argv[2:]]
with open(sys.argv[1], "rb") as f:
    blob = f.read()
print(" ".join(str(i) for i, n in enumerate(needles) if n in blob))
"""


def found_in_file(path: Path, needles: list[bytes]) -> list[int]:
    """Indices of the needles present in ``path`` (empty when the file does not exist)."""
    if not path.exists():
        return []
    out = subprocess.run([sys.executable, "-c", _SCAN, str(path), *(n.hex() for n in needles)],
                         capture_output=True, text=True, check=True)
    return [int(i) for i in out.stdout.split()]
