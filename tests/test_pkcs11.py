"""The PKCS#11 KEK provider against a real SoftHSM2 token."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from confida import record
from confida.config import PKCS11Settings
from confida.crypto import aead
from confida.errors import KeyUnavailable
from tests.actors import ADMIN

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
pytestmark = pytest.mark.skipif(
    not (Path(MODULE).exists() and shutil.which("softhsm2-util")),
    reason="SoftHSM2 not installed (.ci/run installs it)",
)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SoftHSM configuration per test run: the library reads it once per process."""
    base = tmp_path_factory.mktemp("softhsm")
    tokens = base / "tokens"
    tokens.mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    for label in ("confida", "pin-test"):
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label,
             "--so-pin", "5678", "--pin", "1234"],
            check=True, capture_output=True,
        )
    return conf


@pytest.fixture
def token(softhsm: Path, monkeypatch: pytest.MonkeyPatch) -> PKCS11Settings:
    monkeypatch.setenv("CONFIDA_PKCS11_PIN", "1234")
    prefix = f"kek-{uuid.uuid4().hex[:8]}"  # keys of each test apart in the shared token
    return PKCS11Settings(module=MODULE, token_label="confida", key_label_prefix=prefix)


def test_wrap_unwrap_in_hsm(token: PKCS11Settings) -> None:
    from confida.crypto.pkcs11_kek import Pkcs11Kek

    kek = Pkcs11Kek(token)
    assert not kek.has_version("v1")
    kek.create_version("v1")
    assert kek.has_version("v1")
    dek = aead.new_key()
    wrapped = kek.wrap("v1", dek, b"subject-1")
    assert dek not in wrapped
    assert kek.unwrap("v1", wrapped, b"subject-1") == dek
    with pytest.raises(KeyUnavailable):
        kek.unwrap("v1", wrapped, b"subject-2")  # AAD binds the key to its subject
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    with pytest.raises(KeyUnavailable):
        kek.unwrap("v1", bytes(flipped), b"subject-1")
    with pytest.raises(KeyUnavailable):
        kek.create_version("v1")


def test_wrong_pin_refused(token: PKCS11Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from confida.crypto.pkcs11_kek import Pkcs11Kek

    monkeypatch.setenv("CONFIDA_PKCS11_PIN", "0000")
    other = PKCS11Settings(module=MODULE, token_label="pin-test")
    with pytest.raises(KeyUnavailable, match="cannot open"):
        Pkcs11Kek(other).has_version("v1")


def test_vault_on_hsm_with_rotation(token: PKCS11Settings, tmp_path: Path,
                                    database_url: str) -> None:
    from confida.vault import Vault

    from .conftest import make_config

    cfg = make_config(tmp_path / "data", database_url, kek_provider="pkcs11", pkcs11=token)
    with Vault.open(cfg) as v:
        rid = record.collect(v, "u", "conversation_message", {"conversation_id": "c", "text": "hi"},
                        "service", actor=ADMIN).record_id
        assert v.keys.rotate()["version"] == "v2"
    with Vault.open(cfg) as v:
        assert record.read(v, rid, "service", actor=ADMIN).data["text"] == "hi"
