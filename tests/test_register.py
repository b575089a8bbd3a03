from __future__ import annotations

import json
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


# --- every problem at once, with its line; warnings ------------------------------------------

BROKEN = """\
version: 1
controller:
  name: Example AI GmbH
categories:
  contact.email:
    description: E-mail address
  Bad-Name:
    description: not a valid name
kinds:
  account:
    description: The account
    fields:
      email: {category: contact.email}
      phone: {category: contact.phone}
purposes:
  billing:
    description: Bills
    legal_basis: consent
    categories: [contact.email, no.such]
    kinds: [account]
    retention: forever
  service:
    description: The service
    legal_basis: contract
    legal_basis: contract
    categories: [contact.email]
    kinds: [account, invoice]
    retention: 2 years
    retension: 3 years
roles:
  admin:
    description: Operators
    actions: ["*", fly]
    purposes: ["*"]
"""


def test_every_problem_is_reported_at_once_with_its_line() -> None:
    from confida.register import check_register_text

    check = check_register_text(BROKEN, "reg.yaml")
    assert not check.valid and check.register is None
    got = {(p.path, p.line) for p in check.problems}
    assert got >= {
        ("categories.Bad-Name", 7),  # a name that breaks the pattern
        ("kinds.account.fields.phone.category", 14),  # undeclared category
        ("purposes.billing.consent_required", 16),  # consent basis, consent not required
        ("purposes.billing.categories.1", 19),  # undeclared category
        ("purposes.billing.retention", 21),  # not a duration
        ("purposes.service.legal_basis", 25),  # a key given twice
        ("purposes.service.kinds.1", 27),  # undeclared kind
        ("purposes.service.retension", 29),  # unknown field
        ("roles.admin.actions.1", 33),  # unknown action: one problem, not one per union arm
    }, check.problems
    assert len([p for p in check.problems if p.path == "roles.admin.actions.1"]) == 1
    assert [p.line for p in check.problems] == sorted(p.line for p in check.problems)
    for p in check.problems:
        assert str(p).startswith(f"reg.yaml:{p.line}: {p.path}: ")
    with pytest.raises(InvalidRegister) as exc:
        parse_register(BROKEN, "reg.yaml")
    assert len(exc.value.message.splitlines()) == len(check.problems)


def test_validate_cli_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    from .conftest import cli

    p = tmp_path / "reg.yaml"
    p.write_text(BROKEN)
    r = cli(tmp_path, "register", "validate", str(p))
    assert r.exit_code == 2
    for where in (f"{p}:21: purposes.billing.retention", f"{p}:27: purposes.service.kinds.1",
                  f"{p}:14: kinds.account.fields.phone.category"):
        assert where in " ".join(r.output.split()), r.output
    r = cli(tmp_path, "--json", "register", "validate", str(p))
    assert r.exit_code == 2
    doc = json.loads(r.stderr.strip().splitlines()[-1])
    assert doc["error"] == "invalid-register"
    assert {"file": str(p), "line": 21, "path": "purposes.billing.retention"}.items() <= \
        next(x for x in doc["problems"] if x["path"] == "purposes.billing.retention").items()


def test_missing_roles_are_warnings_not_errors(tmp_path: Path) -> None:
    from .conftest import cli

    doc = sample()
    doc["roles"] = {"analyst": doc["roles"]["analyst"]}
    p = tmp_path / "reg.yaml"
    p.write_text(yaml.safe_dump(doc))
    r = cli(tmp_path, "register", "validate", str(p))
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "warning:" in out and "role 'admin' is not declared" in out
    assert "nobody can sign in to the staff console" in out
    assert "valid" in out
    r = cli(tmp_path, "--json", "register", "validate", str(p))
    assert r.exit_code == 0
    warnings = json.loads(r.stdout)["warnings"]
    assert {w["path"] for w in warnings} == {"roles"}
    assert all(w["line"] for w in warnings)
    # an admin that may not do everything: the commands it cannot run are named
    doc = sample()
    doc["roles"]["admin"]["actions"] = ["read", "list"]
    from confida.register import check_register_text

    (w,) = [w for w in check_register_text(yaml.safe_dump(doc)).warnings
            if w.path == "roles.admin.actions"]
    assert "`confida keys`" in w.message and "keys" in w.message
    # the sample itself warns about nothing
    assert check_register_text(SAMPLE_REGISTER.read_text()).warnings == []


def test_special_category_without_condition_is_a_warning() -> None:
    from confida.register import check_register_text

    doc = sample()
    del doc["purposes"]["service"]["special_category_condition"]
    check = check_register_text(yaml.safe_dump(doc))
    assert check.valid
    (w,) = check.warnings
    assert w.path == "purposes.service.categories" and "health.data" in w.message
    assert "special_category_condition" in w.message


def test_special_category_condition_values() -> None:
    from confida.register import SpecialCategoryCondition

    assert len(SpecialCategoryCondition) == 10  # Art. 9(2)(a)-(j)
    assert SpecialCategoryCondition.explicit_consent.article == "Art. 9(2)(a) GDPR"
    assert SpecialCategoryCondition.archiving_research.article == "Art. 9(2)(j) GDPR"
    doc = sample()
    doc["purposes"]["service"]["special_category_condition"] = "because"
    assert "purposes.service.special_category_condition" in errors_for(doc)
    assert load_register(SAMPLE_REGISTER).purposes["service"].special_category_condition \
        is SpecialCategoryCondition.explicit_consent
