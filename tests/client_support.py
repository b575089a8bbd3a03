"""A real ``confida serve`` over TLS for the client tests (tests/test_client*.py): a data dir
on SQLite or the PostgreSQL server, one API key per register role, the server's certificate."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confida.config import Config
from tests.apihelp import setup
from tests.conftest import database
from tests.serving_support import Served, serve


@dataclass
class Server:
    url: str
    cert: Path
    keys: dict[str, str]
    config: Config
    served: Served


@contextmanager
def client_server(tmp: Path, **api: Any) -> Iterator[Server]:
    """``confida serve`` on a fresh store; ``api``: ``[api]`` settings for confida.toml (one
    worker process unless they say otherwise: on PostgreSQL the default is one per CPU, slow
    to start and each with its own in-flight bound)."""
    from confida.tls import create_self_signed

    with database(tmp) as url:
        cfg, keys = setup(tmp, url)
        create_self_signed(cfg.tls_cert, cfg.tls_key)
        toml = f"database_url = {json.dumps(url)}\n"
        api = {"workers": 1, **api}
        toml += "[api]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in api.items())
        (cfg.data_dir / "confida.toml").write_text(toml)
        with serve(cfg.data_dir, cert=cfg.tls_cert) as srv:
            yield Server(f"https://127.0.0.1:{srv.port}", cfg.tls_cert, keys, cfg, srv)


#: imported in a fresh interpreter: what a process that only calls the API loads
IMPORT_PROBE = """
import sys
import confida.client
heavy = [m for m in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "confida.vault",
                     "confida.server", "confida.pii") if m in sys.modules]
print(",".join(heavy))
"""


def import_probe_cmd() -> list[str]:
    return [sys.executable, "-c", IMPORT_PROBE]
