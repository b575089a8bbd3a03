"""Access/portability, rectification, restriction and objection, on the real store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from confida import consent, record, rights
from confida import request as requests
from confida.errors import (
    BadInput,
    ConsentRequired,
    InvalidRecord,
    NotFound,
    ObjectionRecorded,
    SubjectRestricted,
)
from confida.record import CollectItem
from confida.rights import access as access_mod
from confida.store.schema import record as record_t
from confida.vault import Vault
from tests.actors import ADMIN

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "access-export.schema.json").read_text())
MSG = {"conversation_id": "c-1", "text": "My plan: QUOKKA-LANTERN-7781", "role": "user"}
ACCOUNT = {"email": "jane@example.org", "display_name": "=HYPERLINK(\"http://x\")",
           "plan": "pro", "locale": "de", "country": "DE"}
V = "session:password+totp"


def validate(manifest: dict) -> None:
    jsonschema.validate(manifest, SCHEMA, format_checker=jsonschema.Draft202012Validator
                        .FORMAT_CHECKER)


def populate(vault: Vault) -> dict[str, str]:
    ids = {
        "msg": record.collect(vault, "jane", "conversation_message", MSG, "service", actor=ADMIN).record_id,
        "acct": record.collect(vault, "jane", "account", ACCOUNT, "service", actor=ADMIN).record_id,
        "event": record.collect(vault, "jane", "usage_event", {"event": "login", "ip": "192.0.2.1"},
                               "safety", actor=ADMIN).record_id,
        "invoice": record.collect(vault, "jane", "invoice", {"invoice_number": "INV-1",
                                                     "amount_cents": 2000}, "billing", actor=ADMIN).record_id,
    }
    consent.grant(vault, "jane", "model_training", actor=ADMIN)
    record.collect(vault, "jane", "conversation_message", {**MSG, "text": "train on me"},
                  "model_training", actor=ADMIN)
    consent.withdraw(vault, "jane", "model_training", actor=ADMIN)
    record.collect(vault, "someone-else", "conversation_message",
                  {**MSG, "text": "NOT-JANES-SECRET"}, "service", actor=ADMIN)
    return ids


# --- access and portability (Art. 15, 20) ---------------------------------------------------


def test_access_export_is_complete_and_valid(vault: Vault, tmp_path: Path) -> None:
    ids = populate(vault)
    out = tmp_path / "jane.zip"
    res = rights.access_export(vault, "jane", out, verified_by=V, actor=ADMIN)
    assert out.stat().st_mode & 0o777 == 0o600
    assert res.records == 5 and res.request.status == "completed"
    exp = rights.read_export(out.read_bytes())
    m = exp["manifest"]
    validate(m)
    # the records, decrypted, per kind
    msgs = {r["id"]: r for r in exp["records"]["conversation_message"]}
    assert msgs[ids["msg"]]["data"] == MSG and msgs[ids["msg"]]["purpose"] == "service"
    assert {r["data"]["text"] for r in msgs.values()} == {MSG["text"], "train on me"}
    assert exp["records"]["account"][0]["data"] == ACCOUNT
    assert exp["records"]["invoice"][0]["data"]["invoice_number"] == "INV-1"
    assert "NOT-JANES-SECRET" not in out.read_bytes().decode("latin-1")
    # Art. 15(1): purposes + bases, categories, recipients, retention, source, rights
    purposes = {p["name"]: p for p in m["purposes"]}
    assert set(purposes) == {"service", "safety", "billing", "model_training"}
    assert purposes["billing"]["legal_basis"] == "legal_obligation"
    assert purposes["safety"]["legitimate_interest"]
    assert purposes["model_training"]["consent"] is False
    assert purposes["model_training"]["transfers"][0]["safeguard"]
    assert {c["name"] for c in m["categories"]} >= {"contact.email", "content.conversation",
                                                   "device.ip_address", "financial.billing"}
    assert "Payment processor (processor)" in m["recipients"]
    assert m["retention"]["billing"] == "10 years"
    assert m["source"] and m["processing"] is True
    assert {r["right"] for r in m["rights"]} == {
        "access", "rectification", "erasure", "restriction", "portability", "objection",
        "withdraw_consent", "complaint"}
    assert m["supervisory_authority"]["name"].startswith("Berliner")
    assert [c["action"] for c in m["consent_history"]] == ["grant", "withdraw"]
    assert m["requests"][0]["id"] == res.request.id
    assert m["request"]["verified_by"] == V
    # files listed with their digests
    import hashlib
    import zipfile

    with zipfile.ZipFile(out) as z:
        for f in m["files"]:
            assert hashlib.sha256(z.read(f["path"])).hexdigest() == f["sha256"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == res.sha256


def test_csv_matches_json_and_defuses_formulas(vault: Vault, tmp_path: Path) -> None:
    populate(vault)
    buf = io.BytesIO()
    rights.access_export(vault, "jane", buf, verified_by=V, portability=True, actor=ADMIN)
    exp = rights.read_export(buf.getvalue())
    assert exp["manifest"]["request"]["type"] == "portability"
    rows = list(csv.DictReader(io.StringIO(exp["csv"]["account"])))
    assert rows[0]["email"] == ACCOUNT["email"]
    assert rows[0]["display_name"] == "'" + ACCOUNT["display_name"]  # not run as a formula
    assert exp["records"]["account"][0]["data"]["display_name"] == ACCOUNT["display_name"]
    msgs = list(csv.DictReader(io.StringIO(exp["csv"]["conversation_message"])))
    assert len(msgs) == 2 and {r["text"] for r in msgs} == {MSG["text"], "train on me"}


def test_export_with_no_records_is_still_valid(vault: Vault, tmp_path: Path) -> None:
    consent.grant(vault, "quiet", "model_training", actor=ADMIN)
    buf = io.BytesIO()
    rights.access_export(vault, "quiet", buf, verified_by=V, actor=ADMIN)
    m = rights.read_export(buf.getvalue())["manifest"]
    validate(m)
    assert m["processing"] is False and m["files"] == []


def test_schema_rejects_a_tampered_manifest(vault: Vault) -> None:
    populate(vault)
    buf = io.BytesIO()
    rights.access_export(vault, "jane", buf, verified_by=V, actor=ADMIN)
    m = rights.read_export(buf.getvalue())["manifest"]
    for mutate in (lambda d: d.pop("rights"), lambda d: d.update(format="other"),
                   lambda d: d["purposes"][0].update(legal_basis="because"),
                   lambda d: d.update(surprise=1)):
        bad = json.loads(json.dumps(m))
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_access_for_unknown_subject(vault: Vault, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        rights.access_export(vault, "nobody", tmp_path / "x.zip", verified_by=V, actor=ADMIN)
    assert not (tmp_path / "x.zip").exists()


# --- rectification (Art. 16) ----------------------------------------------------------------


def test_rectify_replaces_value_and_tracks_request(vault: Vault) -> None:
    ids = populate(vault)
    req = rights.rectify(vault, "jane", ids["acct"], {"display_name": "Jane Q."},
                         verified_by=V, actor=ADMIN)
    assert req.type == "rectification" and req.status == "completed"
    assert req.details == {"record": ids["acct"], "fields": ["display_name"]}
    assert record.read(vault, ids["acct"], "service", actor=ADMIN).data["display_name"] == "Jane Q."
    buf = io.BytesIO()
    rights.access_export(vault, "jane", buf, verified_by=V, actor=ADMIN)
    assert ACCOUNT["display_name"].encode() not in buf.getvalue()  # old value gone


def test_rectify_refuses_bad_input_and_other_peoples_records(vault: Vault) -> None:
    ids = populate(vault)
    other = record.collect(vault, "bob", "account", {"email": "bob@example.org"}, "service", actor=ADMIN).record_id
    with pytest.raises(NotFound):
        rights.rectify(vault, "jane", other, {"display_name": "x"}, verified_by=V, actor=ADMIN)
    with pytest.raises(NotFound):
        rights.rectify(vault, "jane", "not-a-uuid", {"display_name": "x"}, verified_by=V, actor=ADMIN)
    with pytest.raises(InvalidRecord):
        rights.rectify(vault, "jane", ids["acct"], {"favourite": "x"}, verified_by=V, actor=ADMIN)
    with pytest.raises(InvalidRecord):
        rights.rectify(vault, "jane", ids["acct"], {"email": None}, verified_by=V, actor=ADMIN)
    with pytest.raises(InvalidRecord):
        rights.rectify(vault, "jane", ids["acct"], {"plan": 7}, verified_by=V, actor=ADMIN)
    with pytest.raises(InvalidRecord):
        rights.rectify(vault, "jane", ids["acct"], {}, verified_by=V, actor=ADMIN)
    assert record.read(vault, other, "service", actor=ADMIN).data == {"email": "bob@example.org"}
    assert record.read(vault, ids["acct"], "service", actor=ADMIN).data["email"] == ACCOUNT["email"]
    # refused attempts leave no request behind
    assert [r.type for r in requests.list_requests(vault, actor=ADMIN)] == []


def test_rectify_same_request_id_twice_applies_once(vault: Vault) -> None:
    ids = populate(vault)
    a = rights.rectify(vault, "jane", ids["acct"], {"plan": "team"}, verified_by=V,
                       request_id="r-1", actor=ADMIN)
    rights.rectify(vault, "jane", ids["acct"], {"plan": "free"}, verified_by=V, actor=ADMIN)
    b = rights.rectify(vault, "jane", ids["acct"], {"plan": "team"}, verified_by=V,
                       request_id="r-1", actor=ADMIN)
    assert a.id == b.id
    assert record.read(vault, ids["acct"], "service", actor=ADMIN).data["plan"] == "free"


# --- restriction (Art. 18) ------------------------------------------------------------------


def processing_paths(vault: Vault, ids: dict[str, str]):
    """Every path that processes (rather than stores or shows to the person) the data."""
    return {
        "collect": lambda: record.collect(vault, "jane", "conversation_message", MSG, "service", actor=ADMIN),
        "collect_many": lambda: record.collect_many(vault,
            [CollectItem("jane", "usage_event", {"event": "x"}, "safety")], actor=ADMIN),
        "read": lambda: record.read(vault, ids["msg"], "service", actor=ADMIN),
        "read_other_purpose": lambda: record.read(vault, ids["event"], "safety", actor=ADMIN),
        "update": lambda: record.update(vault, ids["acct"], {"plan": "free"}, "service", actor=ADMIN),
        "consent_grant": lambda: consent.grant(vault, "jane", "model_training", actor=ADMIN),
    }


def test_restriction_blocks_every_processing_path(vault: Vault, tmp_path: Path) -> None:
    ids = populate(vault)
    req = rights.restrict(vault, "jane", verified_by=V, actor=ADMIN)
    assert req.type == "restriction" and req.details["status"] == "restricted"
    before = _ciphertexts(vault)
    for name, fn in processing_paths(vault, ids).items():
        with pytest.raises(SubjectRestricted):
            fn()
        assert _ciphertexts(vault) == before, name  # nothing changed: only stored
    # allowed: the person sees their data, corrects it, and others are unaffected
    buf = io.BytesIO()
    rights.access_export(vault, "jane", buf, verified_by=V, actor=ADMIN)
    validate(rights.read_export(buf.getvalue())["manifest"])
    rights.rectify(vault, "jane", ids["acct"], {"plan": "team"}, verified_by=V, actor=ADMIN)
    record.collect(vault, "someone-else", "conversation_message", MSG, "service", actor=ADMIN)
    # lifting is recorded, and processing resumes
    lift = rights.lift_restriction(vault, "jane", verified_by=V, actor=ADMIN)
    assert lift.type == "restriction_lift" and lift.details["previous"] == "restricted"
    for fn in processing_paths(vault, ids).values():
        fn()
    assert record.read(vault, ids["acct"], "service", actor=ADMIN).data["plan"] == "free"
    types = [r.type for r in requests.list_requests(vault, actor=ADMIN)]
    assert types.count("restriction") == 1 and types.count("restriction_lift") == 1


def _ciphertexts(vault: Vault) -> list[bytes]:
    with vault.engine.connect() as conn:
        return conn.execute(select(record_t.c.ciphertext).order_by(record_t.c.id)).scalars().all()


# --- objection (Art. 21) --------------------------------------------------------------------


def test_objection_stops_legitimate_interest_purpose(vault: Vault) -> None:
    ids = populate(vault)
    req = rights.object_to(vault, "jane", "safety", verified_by=V, actor=ADMIN)
    assert req.details == {"purpose": "safety", "effect": "objection_recorded"}
    with pytest.raises(ObjectionRecorded):
        record.read(vault, ids["event"], "safety", actor=ADMIN)
    with pytest.raises(ObjectionRecorded):
        record.collect(vault, "jane", "usage_event", {"event": "x"}, "safety", actor=ADMIN)
    with pytest.raises(ObjectionRecorded):
        record.collect_many(vault, [CollectItem("someone-else", "usage_event", {"event": "x"}, "safety"),
                            CollectItem("jane", "usage_event", {"event": "x"}, "safety")], actor=ADMIN)
    # other purposes and other people go on
    assert record.read(vault, ids["msg"], "service", actor=ADMIN).data == MSG
    record.collect(vault, "someone-else", "usage_event", {"event": "x"}, "safety", actor=ADMIN)
    # objecting twice is harmless; the export shows it
    rights.object_to(vault, "jane", "safety", verified_by=V, actor=ADMIN)
    buf = io.BytesIO()
    rights.access_export(vault, "jane", buf, verified_by=V, actor=ADMIN)
    m = rights.read_export(buf.getvalue())["manifest"]
    assert [o["purpose"] for o in m["objections"]] == ["safety"]
    assert {p["name"]: p["objected"] for p in m["purposes"]}["safety"] is True


def test_objection_to_consent_purpose_withdraws_consent(vault: Vault) -> None:
    record.collect(vault, "jane", "conversation_message", MSG, "service", actor=ADMIN)
    consent.grant(vault, "jane", "model_training", actor=ADMIN)
    rid = record.collect(vault, "jane", "conversation_message", MSG, "model_training", actor=ADMIN).record_id
    req = rights.object_to(vault, "jane", "model_training", verified_by=V, actor=ADMIN)
    assert req.details["effect"] == "consent_withdrawn"
    assert consent.show(vault, "jane", actor=ADMIN)[0]["model_training"]["granted"] is False
    with pytest.raises(ConsentRequired):
        record.read(vault, rid, "model_training", actor=ADMIN)


def test_objection_to_contract_or_legal_obligation_is_explained(vault: Vault) -> None:
    populate(vault)
    for purpose in ("service", "billing"):
        with pytest.raises(BadInput, match="Art. 21"):
            rights.object_to(vault, "jane", purpose, verified_by=V, actor=ADMIN)
    with pytest.raises(BadInput):
        rights.object_to(vault, "jane", "no_such_purpose", verified_by=V, actor=ADMIN)


# --- properties -----------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(TEXT)
def test_csv_cell_defuses_exactly_the_formula_starts(value: str) -> None:
    out = access_mod._csv_cell(value)
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        assert out == "'" + value
    else:
        assert out == value


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text_value=TEXT.filter(lambda t: t != ""), name=TEXT)
def test_export_round_trips_any_text(vault: Vault, text_value: str, name: str) -> None:
    """Whatever a person wrote comes back byte for byte in JSON, and cell for cell in CSV."""
    who = f"p-{abs(hash((text_value, name)))}"
    record.collect(vault, who, "conversation_message", {"conversation_id": "c", "text": text_value},
                  "service", actor=ADMIN)
    record.collect(vault, who, "account", {"email": "x@example.org", "display_name": name}, "service", actor=ADMIN)
    buf = io.BytesIO()
    rights.access_export(vault, who, buf, verified_by=V, actor=ADMIN)
    exp = rights.read_export(buf.getvalue())
    assert exp["records"]["conversation_message"][0]["data"]["text"] == text_value
    assert exp["records"]["account"][0]["data"]["display_name"] == name
    row = next(csv.DictReader(io.StringIO(exp["csv"]["conversation_message"], newline="")))
    assert row["text"] == access_mod._csv_cell(text_value)
