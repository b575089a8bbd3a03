"""What the TLS check needs to know about serving: the mode the server last ran in.

``confida serve`` records its mode (HTTPS or plain HTTP, and which certificate) in
``<data dir>/run/serve.json`` when it starts. The compliance check reads it, so a server started
with ``--insecure-http`` shows up in the next audit even though nothing in the configuration
changed. The file holds paths and a time, nothing personal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confida.clock import utcnow
from confida.config import Config


def _path(config: Config) -> Path:
    return config.data_dir / "run" / "serve.json"


def record_serve_mode(
    config: Config, *, insecure_http: bool, cert: str | None = None, key: str | None = None
) -> None:
    p = _path(config)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {
        "mode": "http" if insecure_http else "https",
        "at": utcnow().isoformat(),
        "cert": None if insecure_http else (cert or str(config.tls_cert)),
        "key": None if insecure_http else (key or str(config.tls_key)),
    }
    p.write_text(json.dumps(doc) + "\n", encoding="utf-8")


def last_serve_mode(config: Config) -> dict[str, Any] | None:
    p = _path(config)
    try:
        doc = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
