"""The public Python API: what ``confida.__all__`` promises exists, is typed, and works as
docs/python-api.md shows (its example is run here, against a fresh data directory)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import confida
from tests.conftest import cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def test_every_name_in_all_exists() -> None:
    assert sorted(set(confida.__all__)) == sorted(confida.__all__)
    assert [n for n in confida.__all__ if not hasattr(confida, n)] == []


def test_every_exported_function_is_fully_typed_and_names_its_actor() -> None:
    untyped, no_actor = [], []
    for name in confida.__all__:
        obj = getattr(confida, name)
        if not inspect.isfunction(obj):
            continue
        sig = inspect.signature(obj)
        if sig.return_annotation is inspect.Signature.empty:
            untyped.append(f"{name} -> ?")
        untyped += [f"{name}({p})" for p, v in sig.parameters.items()
                    if v.annotation is inspect.Parameter.empty]
        params = sig.parameters
        if "vault" in params and name != "open_vault":
            actor = params.get("actor")
            if actor is None or actor.default is not inspect.Parameter.empty:
                no_actor.append(name)
    assert untyped == []
    assert no_actor == []  # every operation on a vault says who acts, with no default


def test_the_documented_session_runs(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    args = ["init"] + (["--database-url", database_url]
                       if database_url.startswith("postgresql") else [])
    assert cli(data, *args).exit_code == 0
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, "docs/python-api.md shows a session"
    exec(compile(blocks[0], str(DOC), "exec"), {"DATA": str(data)})  # noqa: S102


def test_the_documented_refusals_really_happen(tmp_path: Path, database_url: str) -> None:
    """The doc's try/except blocks would pass silently if nothing were refused: check them."""
    data = tmp_path / "data"
    args = ["init"] + (["--database-url", database_url]
                       if database_url.startswith("postgresql") else [])
    assert cli(data, *args).exit_code == 0
    with confida.open_vault(data) as vault:
        svc = confida.Actor(id="svc", role="service")
        with pytest.raises(confida.ConsentRequired):
            confida.collect(vault, "u", "conversation_message",
                            {"conversation_id": "c", "text": "x"}, "model_training", actor=svc)
        with pytest.raises(confida.AccessDenied):
            confida.grant_consent(vault, "u", "model_training",
                                  actor=confida.Actor(id="d", role="dpo"))
        rec = confida.collect(vault, "u", "account", {"email": "u@example.org"}, "service",
                              actor=svc)
        confida.erase(vault, "u", verified_by="test", actor=svc)
        with pytest.raises(confida.NotFound):
            confida.read(vault, rec.record_id, "service", actor=svc)
