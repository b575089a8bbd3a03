"""Where the gateway forwards to, and with which credential.

Settings, weakest first: ``[gateway]`` in ``<data dir>/gateway.toml`` (``upstream``,
``upstream_key_file``, ``timeout_seconds``), then the environment (``CONFIDA_UPSTREAM_URL``,
``CONFIDA_UPSTREAM_API_KEY``), then ``confida gateway --upstream``. The key is read once at
start; it is never logged, never put in an error, and never shown by ``repr``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from confida.errors import BadInput

SETTINGS_FILE = "gateway.toml"
KEY_ENV = "CONFIDA_UPSTREAM_API_KEY"
URL_ENV = "CONFIDA_UPSTREAM_URL"


@dataclass(frozen=True)
class UpstreamSettings:
    """An OpenAI-compatible base URL (``https://api.openai.com/v1``) and its key."""

    url: str
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 120.0

    @property
    def host(self) -> str:
        """What the audit entry names: the host (and port), never the path or a credential."""
        parts = urlsplit(self.url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname \
            else "unknown"

    def endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + "/" + path.lstrip("/")


def load_settings(data_dir: Path, *, upstream: str | None = None,
                  key_file: str | None = None) -> UpstreamSettings:
    values: dict[str, object] = {}
    path = data_dir / SETTINGS_FILE
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path}: {exc}") from None
        sec = doc.get("gateway", {})
        if not isinstance(sec, dict):
            raise BadInput(f"{path}: [gateway] must be a table")
        unknown = set(sec) - {"upstream", "upstream_key_file", "timeout_seconds"}
        if unknown:
            raise BadInput(f"{path}: unknown [gateway] settings {', '.join(sorted(unknown))}")
        values = sec
    url = upstream or os.environ.get(URL_ENV) or values.get("upstream")
    if not isinstance(url, str) or not url:
        raise BadInput("no upstream: pass --upstream URL or set [gateway] upstream in "
                       f"{SETTINGS_FILE}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput("the upstream is an http(s) URL such as https://api.openai.com/v1")
    if parts.username or parts.password or parts.query:
        raise BadInput("put no credential or query in the upstream URL: use "
                       f"upstream_key_file or {KEY_ENV}")
    key = os.environ.get(KEY_ENV, "")
    kf = key_file or values.get("upstream_key_file")
    if not key and kf:
        p = Path(str(kf)).expanduser()
        p = p if p.is_absolute() else data_dir / p
        try:
            key = p.read_text("utf-8").strip()
        except OSError as exc:
            raise BadInput(f"upstream_key_file {p}: {exc.strerror}") from None
    timeout = values.get("timeout_seconds", 120.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise BadInput("[gateway] timeout_seconds is a positive number")
    return UpstreamSettings(url, key, float(timeout))
