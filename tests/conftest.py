"""Fixtures: a real SQLite file, or the real PostgreSQL server when CONFIDA_TEST_DATABASE_URL
is set (CI runs the whole suite once for each). Each test gets its own schema on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from confida.config import Config
from confida.vault import Vault, initialise_stores

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_REGISTER = ROOT / "examples" / "chat-assistant.yaml"
PG_URL = os.environ.get("CONFIDA_TEST_DATABASE_URL")


@contextmanager
def database(tmp: Path) -> Iterator[str]:
    """A SQLite file under ``tmp``, or a fresh schema on the PostgreSQL server, dropped after."""
    if not PG_URL:
        yield f"sqlite:///{tmp / 'data' / 'confida.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with database(tmp_path) as url:
        yield url


def make_config(data_dir: Path, database_url: str, **kw: object) -> Config:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copy(SAMPLE_REGISTER, data_dir / "register.yaml")
    cfg = Config(data_dir=data_dir, database_url=database_url, **kw)  # type: ignore[arg-type]
    initialise_stores(cfg)
    (data_dir / "confida.toml").write_text(f'database_url = "{database_url}"\n')
    return cfg


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return make_config(tmp_path / "data", database_url)


@pytest.fixture
def vault(config: Config) -> Iterator[Vault]:
    v = Vault.open(config)
    try:
        yield v
    finally:
        v.close()


def cli(data_dir: Path, *args: str, input: str | None = None) -> Any:
    """Run the CLI in-process on ``data_dir``, as a user would with ``--data-dir``."""
    from typer.testing import CliRunner

    from confida.cli import app

    return CliRunner().invoke(app, ["--data-dir", str(data_dir), *args], input=input)


@pytest.fixture
def data_dir(tmp_path: Path, database_url: str) -> Path:
    """A data dir made by ``confida init`` (on PostgreSQL when the suite runs there)."""
    d = tmp_path / "data"
    args = ["init"]
    if database_url.startswith("postgresql"):
        args += ["--database-url", database_url]
    r = cli(d, *args)
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture
def backend() -> str:
    return "postgresql" if PG_URL else "sqlite"
