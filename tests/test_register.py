from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from confida.errors import InvalidRegister
from confida.register import Duration, LegalBasis, load_register, parse_register

from .conftest import SAMPLE_REGISTER


def sample() -> dict:
    return yaml.safe_load(SAMPLE_REGISTER.read_text())


def errors_for(doc: dict) -> str:
    with pytest.raises(InvalidRegister) as exc:
        parse_register(yaml.safe_dump(doc), "reg.yaml")
    return exc.value.message


def test_sample_register_is_valid_and_realistic() -> None:
    reg = load_register(SAMPLE_REGISTER)
    assert set(reg.purposes) >= {"service", "safety", "model_training", "analytics", "billing"}
    assert set(reg.kinds) >= {"account", "conversation_message", "usage_event", "temporary_chat"}
    assert reg.purposes["safety"].legal_basis is LegalBasis.legitimate_interests
    assert str(reg.purposes["safety"].retention) == "30 days"
    assert reg.purposes["model_training"].consent_required
    assert reg.purposes["billing"].legal_basis is LegalBasis.legal_obligation
    assert "temporary_chat" not in reg.purposes["model_training"].kinds
    assert str(reg.retention_for("temporary_chat", "service")) == "30 days"
    assert reg.categories["health.data"].special
    assert set(reg.roles) >= {"admin", "dpo", "support", "service", "ml_engineer", "analyst"}


def test_undeclared_category_names_file_and_path() -> None:
    doc = sample()
    doc["purposes"]["analytics"]["categories"].append("biometric.face")
    msg = errors_for(doc)
    assert "reg.yaml" in msg
    assert "purposes.analytics.categories" in msg and "biometric.face" in msg


def test_consent_basis_without_consent_required() -> None:
    doc = sample()
    doc["purposes"]["model_training"]["consent_required"] = False
    msg = errors_for(doc)
    assert "purposes.model_training" in msg and "consent_required" in msg


def test_missing_retention() -> None:
    doc = sample()
    del doc["purposes"]["billing"]["retention"]
    msg = errors_for(doc)
    assert "purposes.billing.retention" in msg and "required" in msg.lower()


@pytest.mark.parametrize("bad", ["forever", "30", 30, "0 days", "P", "-3d"])
def test_retention_not_a_duration(bad: object) -> None:
    doc = sample()
    doc["purposes"]["safety"]["retention"] = bad
    msg = errors_for(doc)
    assert "purposes.safety.retention" in msg


def test_legitimate_interest_must_be_stated() -> None:
    doc = sample()
    del doc["purposes"]["safety"]["legitimate_interest"]
    assert "legitimate_interest" in errors_for(doc)


def test_unknown_field_in_register_is_rejected() -> None:
    doc = sample()
    doc["purposes"]["service"]["retension"] = "1y"
    assert "purposes.service.retension" in errors_for(doc)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("categories:\n  a: [unclosed\n")
    with pytest.raises(InvalidRegister) as exc:
        load_register(p)
    assert str(p) in exc.value.message and "line" in exc.value.message


def test_invalid_utf8_register(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"version: 1\ncontroller: \xff\xfe\n")
    with pytest.raises(InvalidRegister, match="UTF-8"):
        load_register(p)


def test_missing_register_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRegister, match="no such register"):
        load_register(tmp_path / "nope.yaml")


@given(st.integers(1, 500), st.sampled_from(["d", "days", "w", "months", "y", "h"]))
def test_duration_human_and_iso_agree(n: int, unit: str) -> None:
    d = Duration.parse(f"{n} {unit}")
    assert Duration.parse(str(d)) == d
    iso = {"d": f"P{n}D", "days": f"P{n}D", "w": f"P{n}W", "months": f"P{n}M",
           "y": f"P{n}Y", "h": f"PT{n}H"}[unit]
    assert Duration.parse(iso) == d


def test_calendar_months() -> None:
    from datetime import UTC, datetime

    assert Duration.parse("1 month").after(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
