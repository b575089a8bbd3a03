"""Files: permissions refused at start, the compliance check, --out without surprises, and
nesting bounds on --data and request bodies.

Everything is real: ``confida init`` makes the data dir (SQLite, or PostgreSQL when the suite
runs there), commands run in-process through the CLI, the API through the ASGI app. We run as
root, so ``os.chown`` to uid 65534 stands in for "a file owned by another user".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from confida import permissions, record, safe_files
from confida.config import Config
from confida.errors import BadInput, InvalidRecord
from tests.actors import ADMIN
from tests.conftest import cli

MSG = json.dumps({"conversation_id": "c1", "text": "hello"})
V = ["--verified-by", "session:mfa"]
OTHER_UID = 65534


def _one_error_line(r: Any) -> str:
    """The command failed with exactly one line on stderr and no traceback."""
    assert "Traceback" not in r.output, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _modes(d: Path) -> dict[str, int]:
    return {str(p.relative_to(d)): p.stat().st_mode & 0o777 for p in d.rglob("*")}


# --- permissions: what init creates, what every opener refuses ---------------------------------


def test_init_creates_everything_closed_to_others(data_dir: Path, backend: str) -> None:
    m = _modes(data_dir)
    assert data_dir.stat().st_mode & 0o777 == 0o700
    for d in ("keys", "keys/kek", "tls"):
        assert m[d] == 0o700, d
    for f in ("keys/kek/v1.key", "keys/audit-ed25519.pem", "tls/key.pem", "keys/keystore.db",
              "confida.toml"):
        assert m[f] == 0o600, f
    assert ("confida.db" in m) == (backend == "sqlite")  # PostgreSQL: no SQLite file
    if backend == "sqlite":
        assert m["confida.db"] == 0o600
    assert permissions.problems(Config.load(data_dir)) == []
    r = cli(data_dir, "--json", "compliance", "check", "--only", "file-permissions")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["checks"][0]["status"] == "pass"


# (path relative to the data dir, mode to set, fix the message must name)
WIDE = [
    ("keys/kek/v1.key", 0o644, "chmod 600"),
    ("keys/audit-ed25519.pem", 0o640, "chmod 600"),
    ("tls/key.pem", 0o604, "chmod 600"),
    ("keys/keystore.db", 0o644, "chmod 600"),
    (".", 0o775, "chmod go-w"),
    ("keys", 0o777, "chmod go-w"),
    ("keys/kek", 0o770, "chmod go-w"),
    ("confida.toml", 0o666, "chmod go-w"),
    ("register.yaml", 0o664, "chmod go-w"),
]


def test_every_opener_refuses_wide_modes_with_one_line(data_dir: Path, backend: str) -> None:
    assert cli(data_dir, "collect", "u", "conversation_message", "-p", "service",
               "-d", MSG).exit_code == 0
    cases = list(WIDE)
    if backend == "sqlite":
        cases.append(("confida.db", 0o644, "chmod 600"))
    for rel, mode, fix in cases:
        path = data_dir / rel
        before = path.stat().st_mode & 0o777
        os.chmod(path, mode)
        try:
            r = cli(data_dir, "records", "list", "u")
            assert r.exit_code == 1, (rel, r.output)
            line = _one_error_line(r)
            assert str(path) in line and fix in line, line
            # the audit commands open the store on their own path: same refusal
            r = cli(data_dir, "audit", "verify")
            assert r.exit_code == 1 and fix in r.output, (rel, r.output)
        finally:
            os.chmod(path, before)
    assert cli(data_dir, "records", "list", "u").exit_code == 0


def test_owner_mismatch_is_refused(data_dir: Path) -> None:
    for rel in ("keys/kek/v1.key", "keys", "."):
        path = data_dir / rel
        os.chown(path, OTHER_UID, -1)
        try:
            r = cli(data_dir, "records", "list", "u")
            assert r.exit_code == 1, r.output
            line = _one_error_line(r)
            assert f"owned by uid {OTHER_UID}" in line and f"chown {os.geteuid()}" in line
        finally:
            os.chown(path, os.geteuid(), -1)
    assert cli(data_dir, "records", "list", "u").exit_code == 0


def test_serve_refuses_before_listening(data_dir: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import confida.server.run

    started: list[bool] = []
    monkeypatch.setattr(confida.server.run, "run_server", lambda *a, **k: started.append(True))
    os.chmod(data_dir / "keys" / "kek" / "v1.key", 0o644)
    r = cli(data_dir, "serve", "--port", "1")
    assert r.exit_code == 1 and "chmod 600" in _one_error_line(r)
    os.chmod(data_dir / "keys" / "kek" / "v1.key", 0o600)
    # the operator's own TLS key is held to the same rule
    key = tmp_path / "own-key.pem"
    key.write_bytes((data_dir / "tls" / "key.pem").read_bytes())
    os.chmod(key, 0o644)
    r = cli(data_dir, "serve", "--port", "1", "--cert", str(data_dir / "tls" / "cert.pem"),
            "--key", str(key))
    assert r.exit_code == 1 and str(key) in _one_error_line(r)
    assert not started


def test_init_refuses_an_existing_dir_open_to_others(tmp_path: Path) -> None:
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    r = cli(d, "init")
    assert r.exit_code == 1 and "chmod go-w" in _one_error_line(r)
    assert not (d / "confida.toml").exists()


def test_pkcs11_and_postgresql_installs_have_no_files_to_miss(tmp_path: Path) -> None:
    """Absent paths are not problems: no KEK file with an HSM, no SQLite file on PostgreSQL."""
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    (d / "confida.toml").write_text('kek_provider = "pkcs11"\n')
    cfg = Config.load(d, database_url="postgresql+psycopg://u@127.0.0.1/x",
                      keystore_url="postgresql+psycopg://u@127.0.0.1/k")
    assert permissions.problems(cfg) == []
    assert all(c.kind != permissions.SECRET for c in permissions.inspect(cfg))


def test_settings_holding_a_password_must_be_private(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    toml = d / "confida.toml"
    toml.write_text('database_url = "postgresql+psycopg://u:secret@127.0.0.1/x"\n')
    os.chmod(toml, 0o644)
    bad = permissions.problems(Config.load(d))
    assert [b.path for b in bad] == [toml] and "chmod 600" in bad[0].line()
    os.chmod(toml, 0o600)
    assert permissions.problems(Config.load(d)) == []


# --- the compliance check ------------------------------------------------------------------------


def test_compliance_check_reports_files_changed_after_start(vault: Any, tmp_path: Path) -> None:
    from confida.compliance.run import run_compliance
    from confida.transparency.serving import record_serve_mode

    def check() -> Any:
        (res,) = run_compliance(vault, only=["file-permissions"], actor=ADMIN).results
        return res

    res = check()
    assert res.status == "pass" and res.article.startswith("Art. 32")
    kek = vault.config.kek_dir / "v1.key"
    os.chmod(kek, 0o644)
    os.chmod(vault.config.keys_dir, 0o775)
    try:
        res = check()
        assert res.status == "fail"
        text = "\n".join(res.evidence)
        assert f"{kek}: secret file has mode 644" in text and f"chmod 600 {kek}" in text
        assert f"chmod go-w {vault.config.keys_dir}" in text
    finally:
        os.chmod(kek, 0o600)
        os.chmod(vault.config.keys_dir, 0o700)
    assert check().status == "pass"
    # the TLS key the server last ran with counts too, wherever it lives
    own = tmp_path / "own.pem"
    own.write_bytes(b"not really a key")
    os.chmod(own, 0o640)
    record_serve_mode(vault.config, insecure_http=False, key=str(own))
    res = check()
    assert res.status == "fail" and str(own) in res.evidence[0]


# --- --out: no overwrite without --force, no leftovers, atomic --------------------------------


def _file_commands(data_dir: Path) -> dict[str, list[str]]:
    """Every command whose --out is a file, each ready to run with its --out appended."""
    assert cli(data_dir, "collect", "u", "conversation_message", "-p", "service",
               "-d", MSG).exit_code == 0
    r = cli(data_dir, "--json", "breach", "register", "--title", "t", "--description", "d")
    assert r.exit_code == 0, r.output
    breach = json.loads(r.stdout)["id"]
    text = data_dir.parent / "in.txt"
    text.write_text("Mail jane.doe@example.com please\n")
    return {
        "rights access": ["rights", "access", "u", *V],
        "register notice": ["register", "notice"],
        "register ropa": ["register", "ropa"],
        "compliance check": ["compliance", "check", "--only", "tls"],
        "breach draft": ["breach", "draft", breach],
        "analytics kanon": ["analytics", "kanon", "--kind", "usage_event", "--k", "1"],
        "redact": ["redact", str(text)],
    }


def test_file_outputs_never_overwrite_without_force(data_dir: Path, tmp_path: Path) -> None:
    for name, args in _file_commands(data_dir).items():
        out = tmp_path / f"{name.replace(' ', '-')}.out"
        out.write_text("precious")
        r = cli(data_dir, *args, "--out", str(out))
        assert r.exit_code == 2, (name, r.output)
        assert "--force" in _one_error_line(r), name
        assert out.read_text() == "precious", name
        r = cli(data_dir, *args, "--out", str(out), "--force")
        assert r.exit_code == 0, (name, r.output)
        assert out.read_bytes() != b"precious", name
        # a missing directory: one line, exit 2, nothing created
        missing = tmp_path / "no" / "such" / "dir" / "x.out"
        r = cli(data_dir, *args, "--out", str(missing))
        assert r.exit_code == 2, (name, r.output)
        assert "does not exist" in _one_error_line(r), name
        assert not (tmp_path / "no").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_access_export_is_private_and_fresh_outputs_need_no_force(data_dir: Path,
                                                                    tmp_path: Path) -> None:
    assert cli(data_dir, "collect", "u", "conversation_message", "-p", "service",
               "-d", MSG).exit_code == 0
    out = tmp_path / "u.zip"
    assert cli(data_dir, "rights", "access", "u", "--out", str(out), *V).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600
    notice = tmp_path / "notice.md"
    assert cli(data_dir, "register", "notice", "--out", str(notice)).exit_code == 0
    assert notice.read_text().startswith("#")


def test_directory_outputs_never_replace_without_force(data_dir: Path, tmp_path: Path) -> None:
    commands = {
        "export training": ["export", "training", "--format", "jsonl"],
        "audit export": ["audit", "export"],
    }
    for name, args in commands.items():
        out = tmp_path / name.replace(" ", "-")
        out.mkdir()
        (out / "keep.txt").write_text("precious")
        r = cli(data_dir, *args, "--out", str(out))
        assert r.exit_code == 2, (name, r.output)
        assert "--force" in r.output and "Traceback" not in r.output, name
        assert (out / "keep.txt").read_text() == "precious"
        r = cli(data_dir, *args, "--out", str(out), "--force")
        assert r.exit_code == 0, (name, r.output)
        assert not (out / "keep.txt").exists() and (out / "manifest.json").exists(), name
        r = cli(data_dir, *args, "--out", str(tmp_path / "missing" / "x"))
        assert r.exit_code == 2 and "does not exist" in r.output, (name, r.output)
        assert "Traceback" not in r.output and not (tmp_path / "missing").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_temp_file_never_follows_a_planted_symlink(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    out = tmp_path / "out.zip"
    names = iter([".out.zip.fixed.tmp"])

    def predictable(name: str) -> str:
        return next(names, f".{name}.second.tmp")

    monkeypatch.setattr(safe_files, "_temp_name", predictable)
    (tmp_path / ".out.zip.fixed.tmp").symlink_to(victim)
    safe_files.write_bytes(out, b"personal data")
    assert victim.read_text() == "untouched"
    assert out.read_bytes() == b"personal data" and out.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".out.zip.fixed.tmp").is_symlink()  # left as it was, never opened
    assert not (tmp_path / ".out.zip.second.tmp").exists()
    # every name taken by a link: refused, and still nothing written through it
    monkeypatch.setattr(safe_files, "_temp_name", lambda name: ".out.zip.fixed.tmp")
    with pytest.raises(BadInput, match="temporary name"):
        safe_files.write_bytes(tmp_path / "other.zip", b"x")
    assert victim.read_text() == "untouched"


def test_failed_or_raced_writes_leave_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    with pytest.raises(RuntimeError), safe_files.open_output(out, text=True) as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    # a file that appears while we write is not replaced (the final step is a hard link)
    with pytest.raises(BadInput, match="--force"), safe_files.open_output(out) as f:
        f.write(b"new")
        out.write_text("theirs")
    assert out.read_text() == "theirs" and list(tmp_path.iterdir()) == [out]
    # a symlink at the target is an existing file: replaced (the link, not its target) by force
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    link = tmp_path / "link"
    link.symlink_to(victim)
    with pytest.raises(BadInput, match="--force"):
        safe_files.write_text(link, "x")
    safe_files.write_text(link, "x", force=True)
    assert victim.read_text() == "untouched" and not link.is_symlink()


def test_force_never_replaces_home_or_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    with pytest.raises(BadInput, match="refusing to replace"):
        safe_files.OutputDir(work, force=True)
    assert (work / "sub").is_dir() and not [p for p in tmp_path.iterdir() if p != work]


# --- nesting: --data and request bodies ------------------------------------------------------


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def test_deep_or_unreadable_data_is_one_line_exit_2(data_dir: Path, tmp_path: Path) -> None:
    deep_file = tmp_path / "deep.json"
    deep_file.write_text(_deep(100_000))
    nested = json.dumps({"conversation_id": "c", "text": "t"})[:-1] + ', "x": ' + _deep(65) + "}"
    for data in (_deep(100_000), f"@{deep_file}", nested):
        r = cli(data_dir, "collect", "u", "conversation_message", "-p", "service", "-d", data)
        assert r.exit_code == 2, r.output
        assert "nested deeper than 64 levels" in _one_error_line(r)
    for data in (f"@{tmp_path / 'missing.json'}", f"@{tmp_path}"):
        r = cli(data_dir, "collect", "u", "conversation_message", "-p", "service", "-d", data)
        assert r.exit_code == 2 and "cannot read" in _one_error_line(r)
    r = cli(data_dir, "rights", "rectify", "u", "--record", "x", "-d", _deep(100_000), *V)
    assert r.exit_code == 2 and "nested deeper" in _one_error_line(r)
    ok = json.dumps({"conversation_id": "c", "text": "t"})[:-1] + ', "x": ' + _deep(63) + "}"
    r = cli(data_dir, "collect", "u", "conversation_message", "-p", "service", "-d", ok)
    assert r.exit_code == 0, r.output  # 64 levels in all: accepted (the field is undeclared)


def test_core_refuses_a_built_deep_record(vault: Any) -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidRecord, match="nested deeper than 64"):
        record.collect(vault, "u", "conversation_message",
                      {"conversation_id": "c", "text": "t", "x": deep}, "service", actor=ADMIN)


def test_api_answers_deep_bodies_with_a_problem(tmp_path: Path, database_url: str) -> None:
    from fastapi.testclient import TestClient

    from confida.server.app import create_app
    from tests.apihelp import auth, setup

    cfg, keys = setup(tmp_path, database_url)
    h = {**auth(keys["service"]), "content-type": "application/json"}
    base = '{"subject": "u", "kind": "conversation_message", "purpose": "service", '
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        ok = c.post("/v1/records", headers=h, content=base + '"data": {"conversation_id": '
                    '"c", "text": "t"}}')
        assert ok.status_code == 201, ok.text
        rid = ok.json()["record_id"]
        for n, status in ((100_000, 400), (5_000, 400), (200, 422), (65, 422)):
            data = '{"conversation_id": "c", "text": "t", "x": ' + _deep(n) + "}"
            for method, url, body in (
                ("POST", "/v1/records", base + '"data": ' + data + "}"),
                ("POST", "/v1/records/batch", '{"items": [' + base + '"data": ' + data + "}]}"),
                ("PATCH", f"/v1/records/{rid}", '{"data": ' + data + "}"),
            ):
                hh = {**h, "Confida-Purpose": "service"} if method == "PATCH" else h
                r = c.request(method, url, headers=hh, content=body)
                assert r.status_code == status, (n, url, r.status_code, r.text[:200])
                assert r.headers["content-type"] == "application/problem+json"
                if status == 422:
                    assert "nested deeper than 64 levels" in r.text
