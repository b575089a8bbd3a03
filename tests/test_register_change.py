"""Register evolution: ``register diff`` says what a change means for people; ``register apply``
installs a register (crash-safe, audited), records the new notice version and asks again the
people whose consent the change touches, in the privacy center until they answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from confida import consent, record, register_change
from confida import subject as subjects
from confida.errors import AccessDenied, InvalidRegister
from confida.operation import Actor, subject_actor
from confida.register import Register, load_register
from confida.register.diff import LESS, MORE, NOW_CONSENT, STAFF, WIDENED, diff_registers
from confida.server.app import create_app
from confida.transparency.notice import notice_version
from confida.vault import Vault
from tests.actors import ADMIN
from tests.conftest import SAMPLE_REGISTER, cli
from tests.tr_support import ListSink

SAMPLE_TEXT = SAMPLE_REGISTER.read_text("utf-8")


def sample() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE_TEXT)


def reg(doc: dict[str, Any]) -> Register:
    return Register.model_validate(doc)


def widened_training() -> dict[str, Any]:
    """model_training (consent) keeps data longer and gains a recipient."""
    doc = sample()
    doc["purposes"]["model_training"]["retention"] = "3 years"
    doc["purposes"]["model_training"]["recipients"].append("Research partner (processor)")
    return doc


def analytics_on_consent() -> dict[str, Any]:
    """analytics (legitimate interests) turns consent-based."""
    doc = sample()
    a = doc["purposes"]["analytics"]
    a.update({"legal_basis": "consent", "consent_required": True,
              "consent_prompt": "Count how I use the product"})
    del a["legitimate_interest"]
    a["compatible_with"] = {}
    del doc["purposes"]["safety"]["compatible_with"]["analytics"]  # nothing reuses consent data
    return doc


def dump(doc: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def sid(vault: Vault, external: str) -> str:
    with vault.engine.connect() as conn:
        return subjects.require(vault, conn, external).id


# --- diff ------------------------------------------------------------------------------------


def test_diff_of_identical_registers_is_empty() -> None:
    d = diff_registers(reg(sample()), reg(sample()))
    assert d.unchanged and d.changes == [] and d.reconsent == {}


def test_diff_names_what_changes_for_people() -> None:
    doc = widened_training()
    doc["purposes"]["billing"]["retention"] = "6 years"  # shorter
    doc["purposes"]["newsletter"] = {
        "description": "To send you our newsletter.", "legal_basis": "consent",
        "consent_required": True, "categories": ["contact.email"], "kinds": ["account"],
        "retention": "1 year"}
    doc["kinds"]["account"]["fields"]["birth_year"] = {"category": "account.locale",
                                                      "type": "integer"}
    doc["purposes"]["safety"]["transfers"] = [
        {"country": "India", "recipient": "Moderation vendor", "safeguard": "SCCs"}]
    doc["categories"]["biometric.voice"] = {"description": "Voice recordings", "special": True}
    doc["purposes"]["service"]["categories"].append("biometric.voice")
    doc["roles"]["support"]["actions"] = ["read"]
    d = diff_registers(reg(sample()), reg(doc))
    by_path = {c.path: c for c in d.changes}
    assert by_path["purposes.model_training.retention"].effect == MORE
    assert "1 year → 3 years" in by_path["purposes.model_training.retention"].text
    assert by_path["purposes.model_training.recipients"].effect == MORE
    assert by_path["purposes.billing.retention"].effect == LESS
    assert by_path["purposes.newsletter"].effect == MORE
    assert "asks for consent" in by_path["purposes.newsletter"].text
    field = by_path["kinds.account.fields.birth_year"]
    assert field.effect == MORE and "analytics" in field.purposes
    assert "India" in by_path["purposes.safety.transfers"].text
    cats = by_path["purposes.service.categories"]
    assert "biometric.voice" in cats.text and "special" in cats.text
    assert by_path["categories.biometric.voice"].effect == MORE
    assert by_path["roles.support"].effect == STAFF
    assert by_path["roles.support"] not in d.for_people
    # only the widened consent purpose is asked again; a new consent purpose is an opt-in
    assert d.reconsent == {"model_training": WIDENED}
    assert any("3 years" in r for r in d.reasons("model_training"))


def test_diff_purpose_turned_consent_based_and_back() -> None:
    d = diff_registers(reg(sample()), reg(analytics_on_consent()))
    assert d.reconsent == {"analytics": NOW_CONSENT}
    change = next(c for c in d.changes if c.path == "purposes.analytics.consent_required")
    assert "now asks for consent" in change.text
    back = diff_registers(reg(analytics_on_consent()), reg(sample()))
    assert back.reconsent == {}
    change = next(c for c in back.changes if c.path == "purposes.analytics.consent_required")
    assert change.effect == MORE and "no longer asks for consent" in change.text


def test_diff_cli_human_and_json(tmp_path: Path) -> None:
    old = dump(sample(), tmp_path / "old.yaml")
    new = dump(widened_training(), tmp_path / "new.yaml")
    r = cli(tmp_path / "unused", "register", "diff", str(old), str(new))
    assert r.exit_code == 0, r.output
    assert "For people" in r.output and "keeps data longer: 1 year → 3 years" in r.output
    assert "Asked again" in r.output and "model_training (widened)" in r.output
    r = cli(tmp_path / "unused", "--json", "register", "diff", str(old), str(new))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["reconsent"][0]["purpose"] == "model_training"
    assert doc["reconsent"][0]["reason"] == WIDENED
    assert doc["notice_version"]["from"] != doc["notice_version"]["to"]
    assert {"path", "text", "effect", "purposes", "widens"} <= set(doc["changes"][0])
    same = cli(tmp_path / "unused", "register", "diff", str(old), str(old))
    assert same.exit_code == 0 and "no change" in same.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("purposes: [\n")
    r = cli(tmp_path / "unused", "register", "diff", str(old), str(bad))
    assert r.exit_code == 2


# --- apply -----------------------------------------------------------------------------------


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def v(config, sink) -> Vault:
    vault = Vault.open(config, audit=sink)
    try:
        yield vault
    finally:
        vault.close()


def seed(v: Vault) -> None:
    """ann consented to training; bob consented then withdrew; cara never consented; all have
    service data; ann and dan have usage events for analytics."""
    for who in ("ann", "bob", "cara", "dan"):
        record.collect(v, who, "account", {"email": f"{who}@example.test", "country": "DE"},
                       "service", actor=ADMIN)
    consent.grant(v, "ann", "model_training", actor=ADMIN)
    consent.grant(v, "bob", "model_training", actor=ADMIN)
    consent.withdraw(v, "bob", "model_training", actor=ADMIN)
    for who in ("ann", "dan"):
        record.collect(v, who, "usage_event", {"event": "open"}, "analytics", actor=ADMIN)


def asked(v: Vault, who: str) -> dict[str, str]:
    me = subject_actor(sid(v, who), "test-session")
    return {a.purpose: a.reason
            for a in register_change.pending_reconsent(v, subject_id=sid(v, who), actor=me)}


def test_apply_installs_records_notice_version_and_asks_again(v: Vault, config, sink,
                                                             tmp_path: Path) -> None:
    seed(v)
    old_notice = v.notice_version()
    text = yaml.safe_dump(widened_training(), sort_keys=False, allow_unicode=True)
    res = register_change.apply_register(v, text, source="new.yaml", actor=ADMIN)
    assert res.installed and res.seq == 1
    assert res.previous_notice_version == old_notice != res.notice_version
    assert res.notice_version == v.notice_version()  # the vault enforces the new register
    assert config.register_path.read_text("utf-8") == text
    assert load_register(config.register_path).content_hash() == res.diff.new_version
    assert res.asked == {"model_training": 1}  # ann: bob withdrew, cara never consented
    # the history entry: the new notice version, the previous register, the reasons
    (entry,) = register_change.history(config)
    assert entry["notice_version"] == res.notice_version
    assert entry["previous_notice_version"] == old_notice
    assert entry["reconsent"] == {"model_training": WIDENED}
    assert load_register(SAMPLE_REGISTER).content_hash() == entry["previous_hash"]
    assert entry["previous_register"] == SAMPLE_TEXT and entry["register"] == text
    # audited, without personal data
    e = next(x for x in sink.entries if x["action"] == "register.apply")
    assert e["outcome"] == "allowed" and e["details"]["authz"]["action"] == "register"
    assert e["details"]["notice_version"] == res.notice_version
    assert e["details"]["reconsent"] == {"model_training": 1}
    assert "ann" not in json.dumps(e)
    # only ann is asked, until she answers
    assert asked(v, "ann") == {"model_training": WIDENED}
    assert asked(v, "bob") == {} and asked(v, "cara") == {}
    consent.grant(v, "", "model_training", subject_id=sid(v, "ann"), source="web",
                  actor=subject_actor(sid(v, "ann"), "s"))
    assert asked(v, "ann") == {}
    # no temporary file is left beside the register or in the history
    assert not [p for p in config.data_dir.rglob(".*.tmp")]


def test_apply_purpose_turned_consent_based_asks_those_with_data(v: Vault) -> None:
    seed(v)
    text = yaml.safe_dump(analytics_on_consent(), sort_keys=False)
    res = register_change.apply_register(v, text, actor=ADMIN)
    assert res.asked == {"analytics": 2}
    assert asked(v, "ann") == {"analytics": NOW_CONSENT}
    assert asked(v, "dan") == {"analytics": NOW_CONSENT}
    assert asked(v, "cara") == {}
    consent.withdraw(v, "dan", "analytics", actor=ADMIN)  # "no" is an answer too
    assert asked(v, "dan") == {}


def test_apply_the_same_register_changes_nothing(v: Vault, config) -> None:
    seed(v)
    res = register_change.apply_register(v, SAMPLE_TEXT, actor=ADMIN)
    assert not res.installed and res.seq is None and res.asked == {}
    assert register_change.history(config) == []
    assert asked(v, "ann") == {}


def test_apply_refuses_an_invalid_register_and_changes_nothing(v: Vault, config, sink) -> None:
    doc = widened_training()
    doc["purposes"]["model_training"]["retention"] = "forever"
    doc["purposes"]["billing"]["categories"].append("no.such")
    with pytest.raises(InvalidRegister) as exc:
        register_change.apply_register(v, yaml.safe_dump(doc), source="new.yaml", actor=ADMIN)
    msg = exc.value.message
    assert "purposes.model_training.retention" in msg and "purposes.billing.categories" in msg
    assert config.register_path.read_text("utf-8") == SAMPLE_TEXT
    assert register_change.history(config) == []
    assert sink.entries[-1]["action"] == "register.apply"
    assert sink.entries[-1]["outcome"] != "allowed"


@pytest.mark.parametrize("actor", [Actor(id="x", role="nobody"), subject_actor("s-1", "s")])
def test_apply_is_refused_without_the_register_action(v: Vault, config, sink,
                                                      actor: Actor) -> None:
    with pytest.raises(AccessDenied):
        register_change.apply_register(v, yaml.safe_dump(widened_training()), actor=actor)
    assert config.register_path.read_text("utf-8") == SAMPLE_TEXT
    assert sink.entries[-1]["outcome"] == "denied"


def test_a_crash_before_the_install_is_completed_by_applying_again(v: Vault, config,
                                                                   monkeypatch) -> None:
    seed(v)
    text = yaml.safe_dump(widened_training(), sort_keys=False)

    def crash(*_a: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(register_change, "_install", crash)
    with pytest.raises(OSError):
        register_change.apply_register(v, text, actor=ADMIN)
    monkeypatch.undo()
    # the entry was written, the register was not: the entry is not in force
    assert [e["seq"] for e in register_change.history(config)] == [1]
    assert config.register_path.read_text("utf-8") == SAMPLE_TEXT
    assert register_change.installed_history(config, v.register) == []
    assert asked(v, "ann") == {}
    # reopened (as the next CLI run would) and applied again: completed under the same number
    with Vault.open(config) as again:
        res = register_change.apply_register(again, text, actor=ADMIN)
        assert res.installed and res.seq == 1
        assert asked(again, "ann") == {"model_training": WIDENED}
    assert [e["seq"] for e in register_change.history(config)] == [1]
    assert config.register_path.read_text("utf-8") == text


def test_successive_changes_are_numbered_and_the_newest_decides(v: Vault, config) -> None:
    seed(v)
    register_change.apply_register(v, yaml.safe_dump(widened_training()), actor=ADMIN)
    consent.grant(v, "ann", "model_training", actor=ADMIN)  # ann answers
    doc = widened_training()
    doc["purposes"]["model_training"]["retention"] = "4 years"
    res = register_change.apply_register(v, yaml.safe_dump(doc), actor=ADMIN)
    assert res.seq == 2 and res.asked == {"model_training": 1}
    assert asked(v, "ann") == {"model_training": WIDENED}  # asked again about the new change
    assert [e["seq"] for e in register_change.history(config)] == [1, 2]


def test_apply_cli_validates_installs_and_reports(data_dir: Path, tmp_path: Path) -> None:
    bad = widened_training()
    bad["purposes"]["model_training"]["retention"] = "forever"
    bad["roles"]["support"]["purposes"] = ["nope"]
    r = cli(data_dir, "register", "apply", str(dump(bad, tmp_path / "bad.yaml")))
    assert r.exit_code == 2
    assert "purposes.model_training.retention" in r.output and "roles.support.purposes" in r.output
    new = dump(widened_training(), tmp_path / "new.yaml")
    r = cli(data_dir, "register", "apply", str(new))
    assert r.exit_code == 0, r.output
    assert "installed" in r.output and "history entry 1" in r.output
    assert "asked again about model_training (widened): 0 subject(s)" in r.output
    r = cli(data_dir, "--json", "register", "apply", str(new))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["installed"] is False
    assert load_register(data_dir / "register.yaml").content_hash() == \
        load_register(new).content_hash()
    r = cli(data_dir, "register", "notice")
    assert r.exit_code == 0
    assert notice_version(load_register(new)) in r.output


# --- the privacy center ----------------------------------------------------------------------


def test_privacy_center_asks_again_until_the_person_answers(v: Vault, config) -> None:
    from tests.web_support import SUBJECT
    from tests.web_support import seed as web_seed

    seeded = web_seed(v)  # SUBJECT has consented to model_training
    register_change.apply_register(v, yaml.safe_dump(widened_training()), actor=ADMIN)
    app = create_app(config)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            r = client.get("/privacy/enter", params={"token": seeded["link"]},
                           follow_redirects=False)
            assert r.status_code == 303
            page = client.get("/privacy/")
            assert page.status_code == 200
            assert 'data-testid="reconsent"' in page.text
            assert 'data-testid="reconsent-model_training"' in page.text
            assert "1 year → 3 years" in page.text
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            version = re.search(r'name="notice_version" value="([^"]+)"', page.text).group(1)
            assert version == v.notice_version()
            r = client.post("/privacy/consent", data={
                "purpose": "model_training", "choice": "on", "csrf": token,
                "notice_version": version})
            assert r.status_code == 200
            assert 'data-testid="reconsent"' not in r.text  # answered: no longer asked
            _, events = consent.show(v, SUBJECT, actor=ADMIN)
            assert (events[-1].action, events[-1].source, events[-1].notice_version) == (
                "grant", "web", version)
    finally:
        app.state.web.close()
