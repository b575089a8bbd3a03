"""The REST API: authorisation matrix, credentials, masking, problems, limits, audit.

Everything is real (the FastAPI app in-process over ASGI, the store on SQLite or PostgreSQL, the
key store, real API keys, real RSA-signed JWTs verified against a JWKS file); the network socket
is the only thing not exercised here (see test_tls.py for that).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from confida import credential
from confida.config import ApiSettings, OidcSettings
from confida.server.app import create_app
from confida.server.logging import RedactingFilter
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import RecordingSink, auth, setup
from tests.conftest import database

PROBLEM = "application/problem+json"
ISSUER = "https://idp.test.example"
AUDIENCE = "confida-api"


def _jwks(tmp: Path) -> tuple[Any, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    path = tmp / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("api")
    key, jwks = _jwks(tmp)
    with database(tmp) as url:
        cfg, keys = setup(
            tmp, url,
            oidc=OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=str(jwks)),
            api=ApiSettings(rate_per_second=10_000, rate_burst=10_000),
        )
        app = create_app(cfg)
        sink = RecordingSink()
        app.state.ctx._vault = Vault.open(cfg, audit=sink)
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.post("/v1/records", headers=auth(keys["service"]), json={
                "subject": "user-1", "kind": "account", "purpose": "service",
                "data": {"email": "jane.doe@example.com", "display_name": "Jane Doe",
                         "plan": "pro", "country": "DE"}})
            assert r.status_code == 201, r.text
            yield {"client": client, "keys": keys, "record": r.json()["record_id"],
                   "sink": sink, "jwk": key, "cfg": cfg, "app": app}


# --- the authorisation matrix ------------------------------------------------------------------
# For every role of the sample register: a purpose it may use and one it may not (None where the
# role may use every purpose). The expected statuses below are the specification, written out by
# hand from the register's roles section, not computed from it.

ALLOWED = {"admin": "service", "dpo": "service", "support": "service", "service": "service",
           "ml_engineer": "model_training", "analyst": "analytics"}
FORBIDDEN = {"admin": None, "dpo": "analytics", "support": "billing", "service": None,
             "ml_engineer": "service", "analyst": "service"}

ROLES = ["admin", "dpo", "support", "service", "ml_engineer", "analyst"]
# endpoint -> status per role (in ROLES order) when the purpose is one the role may use
EXPECTED_ALLOWED = {
    "collect":        [201, 403, 403, 201, 403, 403],
    "collect_batch":  [201, 403, 403, 201, 403, 403],
    "read":           [200, 200, 200, 200, 403, 403],
    "update":         [200, 403, 403, 200, 403, 403],
    "list":           [200, 200, 200, 200, 403, 403],
    "consents_read":  [200, 200, 403, 200, 403, 403],
    "consents_write": [201, 403, 403, 201, 403, 403],  # dpo: model_training not its purpose
    "subject_token":  [201, 201, 403, 201, 403, 403],
    "register":       [200, 200, 200, 200, 200, 200],
    "me":             [403, 403, 403, 403, 403, 403],
    "legal_hold":     [200, 200, 403, 403, 403, 403],
    "privacy_link":   [201, 201, 403, 201, 403, 403],
}
PURPOSE_ENDPOINTS = ["collect", "collect_batch", "read", "update", "list", "consents_read"]


def call(env: dict[str, Any], endpoint: str, key: str, purpose: str) -> Any:
    c, rid = env["client"], env["record"]
    acct = {"subject": "user-2", "kind": "account", "purpose": purpose,
            "data": {"email": "a@example.org"}}
    if endpoint == "collect":
        return c.post("/v1/records", headers=auth(key), json=acct)
    if endpoint == "collect_batch":
        return c.post("/v1/records/batch", headers=auth(key), json={"items": [acct, acct]})
    if endpoint == "read":
        return c.get(f"/v1/records/{rid}", headers=auth(key, purpose))
    if endpoint == "update":
        return c.patch(f"/v1/records/{rid}", headers=auth(key, purpose),
                       json={"data": {"plan": "team"}})
    if endpoint == "list":
        return c.get("/v1/subjects/user-1/records", headers=auth(key, purpose))
    if endpoint == "consents_read":
        return c.get("/v1/subjects/user-1/consents", headers=auth(key, purpose))
    if endpoint == "consents_write":
        return c.post("/v1/subjects/user-1/consents", headers=auth(key),
                      json={"purpose": "model_training", "action": "withdraw"})
    if endpoint == "subject_token":
        return c.post("/v1/subject-tokens", headers=auth(key), json={"subject": "user-1"})
    if endpoint == "register":
        return c.get("/v1/register", headers=auth(key))
    if endpoint == "me":
        return c.get("/v1/me/consents", headers=auth(key))
    if endpoint == "privacy_link":
        return c.post("/v1/subjects/user-1/privacy-link", headers=auth(key))
    if endpoint == "legal_hold":
        return c.put(f"/v1/records/{rid}/legal-hold", headers=auth(key),
                     json={"hold": True, "reason": "Pending court case"})
    raise AssertionError(endpoint)


MATRIX = [(role, ep, "allowed", EXPECTED_ALLOWED[ep][i]) for ep in EXPECTED_ALLOWED
          for i, role in enumerate(ROLES)]
MATRIX += [(role, ep, "forbidden", 403) for ep in PURPOSE_ENDPOINTS for role in ROLES
           if FORBIDDEN[role] is not None]


@pytest.mark.parametrize(("role", "endpoint", "case", "expected"), MATRIX,
                         ids=[f"{r}-{e}-{c}" for r, e, c, _ in MATRIX])
def test_authorisation_matrix(env: dict[str, Any], role: str, endpoint: str, case: str,
                              expected: int) -> None:
    purpose = ALLOWED[role] if case == "allowed" else FORBIDDEN[role]
    assert purpose is not None
    before = len(env["sink"].entries)
    r = call(env, endpoint, env["keys"][role], purpose)
    assert r.status_code == expected, (r.status_code, r.text)
    if expected >= 400:
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"] == "https://confida.dev/problems/access-denied"
    # every decision, allowed or denied, reached the audit log, naming the role
    new = env["sink"].entries[before:]
    assert new, "no audit entry for this decision"
    last = new[-1]
    assert last["role"] == role
    assert last["outcome"] == ("allowed" if expected < 400 else "denied")


def test_every_v1_route_is_in_the_matrix(env: dict[str, Any]) -> None:
    """A new endpoint must join the matrix: compare the OpenAPI paths with the ones called."""
    paths = {p for p in env["app"].openapi()["paths"] if p.startswith("/v1")}
    covered = {"/v1/records", "/v1/records/batch", "/v1/records/{record_id}",
               "/v1/subjects/{subject_id}/records", "/v1/subjects/{subject_id}/consents",
               "/v1/subject-tokens", "/v1/register", "/v1/me/consents", "/v1/me/records",
               "/v1/pii/scan", "/v1/pii/redact", "/v1/records/{record_id}/legal-hold",
               "/v1/subjects/{subject_id}/privacy-link",
               # by role in test_api_audit.py
               "/v1/audit/checkpoints/latest", "/v1/audit/proofs/inclusion",
               "/v1/audit/proofs/consistency",
               # by role in test_api_rights.py
               "/v1/subjects/{subject_id}/access-export", "/v1/subjects/{subject_id}/erasure",
               "/v1/subjects/{subject_id}/rectifications", "/v1/subjects/{subject_id}/restriction",
               "/v1/subjects/{subject_id}/objections", "/v1/erasure-feed", "/v1/requests",
               "/v1/subjects/{subject_id}/references"}
    assert paths <= covered, paths - covered


# --- purpose limitation beyond the role -----------------------------------------------------


def test_missing_purpose_is_a_400_problem(env: dict[str, Any]) -> None:
    r = env["client"].get(f"/v1/records/{env['record']}", headers=auth(env["keys"]["admin"]))
    assert r.status_code == 400
    assert r.json()["type"].endswith("/purpose-required")


def test_consent_based_purpose_needs_consent_then_withdrawal_applies(env: dict[str, Any]) -> None:
    c, k = env["client"], env["keys"]["service"]
    msg = {"subject": "user-9", "kind": "conversation_message", "purpose": "service",
           "data": {"conversation_id": "c1", "text": "hello"}}
    rid = c.post("/v1/records", headers=auth(k), json=msg).json()["record_id"]
    r = c.get(f"/v1/records/{rid}", headers=auth(k, "model_training"))
    assert r.status_code == 403 and r.json()["type"].endswith("/consent-required")
    assert c.post("/v1/subjects/user-9/consents", headers=auth(k),
                  json={"purpose": "model_training", "action": "grant"}).status_code == 201
    r = c.get(f"/v1/records/{rid}", headers=auth(k, "model_training"))
    assert r.status_code == 200 and r.json()["data"]["text"] == "hello"
    c.post("/v1/subjects/user-9/consents", headers=auth(k),
           json={"purpose": "model_training", "action": "withdraw"})
    r = c.get(f"/v1/records/{rid}", headers=auth(k, "model_training"))
    assert r.status_code == 403 and r.json()["type"].endswith("/consent-required")


def test_purpose_that_does_not_cover_the_kind_is_refused(env: dict[str, Any]) -> None:
    r = env["client"].get(f"/v1/records/{env['record']}",
                          headers=auth(env["keys"]["admin"], "safety"))
    assert r.status_code == 403 and r.json()["type"].endswith("/purpose-not-allowed")


def test_unknown_purpose_is_422(env: dict[str, Any]) -> None:
    r = env["client"].get(f"/v1/records/{env['record']}",
                          headers=auth(env["keys"]["admin"], "nosuch"))
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-purpose")


def test_masking_per_role(env: dict[str, Any]) -> None:
    c, rid = env["client"], env["record"]
    support = c.get(f"/v1/records/{rid}", headers=auth(env["keys"]["support"], "service")).json()
    assert support["data"]["email"] == "j***@example.com"
    assert support["data"]["display_name"] != "Jane Doe"
    assert support["data"]["display_name"].startswith("J")
    full = c.get(f"/v1/records/{rid}", headers=auth(env["keys"]["service"], "service")).json()
    assert full["data"]["email"] == "jane.doe@example.com"


def test_dpo_cannot_see_categories_outside_the_purpose(env: dict[str, Any]) -> None:
    """billing may not use account.credentials_meta (plan): withheld even for the DPO."""
    r = env["client"].get(f"/v1/records/{env['record']}",
                          headers=auth(env["keys"]["dpo"], "billing"))
    assert r.status_code == 200
    assert "plan" not in r.json()["data"] and r.json()["withheld_fields"] >= 1


# --- credentials ------------------------------------------------------------------------------


def _jwt(env: dict[str, Any], **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "staff-7@corp.example", "iat": now,
              "exp": now + 300, "confida_role": "support"}
    headers = {"kid": "k1"}
    key = over.pop("_key", env["jwk"])
    alg = over.pop("_alg", "RS256")
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_valid_oidc_token_acts_with_its_role(env: dict[str, Any]) -> None:
    r = env["client"].get(f"/v1/records/{env['record']}",
                          headers=auth(_jwt(env), "service"))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["email"] == "j***@example.com"  # support's masking
    entry = env["sink"].entries[-1]
    assert entry["actor"].startswith("oidc:") and "corp.example" not in json.dumps(entry)


def _none_alg(env: dict[str, Any]) -> str:
    import base64

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return b64({"alg": "none", "typ": "JWT"}) + "." + b64(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 300,
         "confida_role": "admin"}) + "."


@pytest.mark.parametrize("which", [
    "missing", "empty", "garbage", "expired_jwt", "wrong_audience", "wrong_issuer",
    "wrong_signature", "alg_none", "hs256_with_public_key", "no_exp", "malformed_key",
    "unknown_key", "wrong_secret", "revoked_key", "expired_key", "tampered_subject_token",
    "huge",
])
def test_bad_credentials_are_401_never_500(env: dict[str, Any], which: str) -> None:
    keys = env["keys"]
    good = keys["service"]
    vault: Vault = env["app"].state.ctx.vault()
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token: str | None
    if which == "missing":
        token = None
    elif which == "empty":
        token = ""
    elif which == "garbage":
        token = "not-a-credential"
    elif which == "expired_jwt":
        token = _jwt(env, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    elif which == "wrong_audience":
        token = _jwt(env, aud="another-app")
    elif which == "wrong_issuer":
        token = _jwt(env, iss="https://evil.example")
    elif which == "wrong_signature":
        token = _jwt(env, _key=other_rsa)
    elif which == "alg_none":
        token = _none_alg(env)
    elif which == "hs256_with_public_key":
        token = _jwt(env, _key="a-shared-secret-of-32-bytes-long!", _alg="HS256")
    elif which == "no_exp":
        token = _jwt(env, exp=None)
    elif which == "malformed_key":
        token = "cfk_abc_def"
    elif which == "unknown_key":
        token = "cfk_aaaaaaaa_" + good.split("_", 2)[2]
    elif which == "wrong_secret":
        prefix = good.rsplit("_", 1)[0] if good.count("_") == 2 else good[:13]
        token = good[:13] + ("A" if good[13] != "A" else "B") + good[14:]
        assert token.startswith(prefix[:13])
    elif which == "revoked_key":
        k = credential.create(vault, "service", actor=ADMIN)
        credential.revoke(vault, k.info.id, actor=ADMIN)
        token = k.key
    elif which == "expired_key":
        from datetime import timedelta
        k = credential.create(vault, "service",
                              expires_at=vault.clock() + timedelta(seconds=1), actor=ADMIN)
        time.sleep(1.2)
        token = k.key
    elif which == "tampered_subject_token":
        t = env["client"].post("/v1/subject-tokens", headers=auth(good),
                               json={"subject": "user-1"}).json()["token"]
        head, payload, tag = t.split(".")
        token = f"{head}.{payload[:-2] + ('AA' if payload[-2:] != 'AA' else 'BB')}.{tag}"
    elif which == "huge":
        token = "cfk_" + "a" * 10_000
    else:
        raise AssertionError(which)
    headers = {"Confida-Purpose": "service"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    path = "/v1/me/consents" if which == "tampered_subject_token" else \
        f"/v1/records/{env['record']}"
    before = len(env["sink"].entries)
    r = env["client"].get(path, headers=headers)
    assert r.status_code == 401, (which, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "https://confida.dev/problems/unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert any(e["action"] == "auth.authenticate" and e["outcome"] == "denied"
               for e in env["sink"].entries[before:])


def test_jwt_with_unknown_role_is_403(env: dict[str, Any]) -> None:
    r = env["client"].get("/v1/register", headers=auth(_jwt(env, confida_role="root")))
    assert r.status_code == 403


def test_api_key_is_stored_as_hash_only(env: dict[str, Any]) -> None:
    from sqlalchemy import select

    from confida.store.schema import api_key

    vault: Vault = env["app"].state.ctx.vault()
    k = credential.create(vault, "analyst", label="hash-check", actor=ADMIN)
    secret = k.key.split("_", 2)[2]
    with vault.engine.connect() as conn:
        row = conn.execute(select(api_key).where(api_key.c.id == k.info.id)).one()
    assert secret not in json.dumps([str(v) for v in row])
    assert len(k.key.split("_", 2)[2]) == 43  # 256 bits, base64url
    assert row.secret_sha256 != secret


# --- subject tokens -------------------------------------------------------------------------


def test_subject_token_scopes_to_one_subject(env: dict[str, Any]) -> None:
    c, k = env["client"], env["keys"]["service"]
    t1 = c.post("/v1/subject-tokens", headers=auth(k), json={"subject": "user-1"}).json()
    mine = c.get("/v1/me/records", headers=auth(t1["token"])).json()["items"]
    assert env["record"] in [m["id"] for m in mine]
    c.post("/v1/records", headers=auth(k), json={
        "subject": "user-5", "kind": "account", "purpose": "service",
        "data": {"email": "x@example.org"}})
    t5 = c.post("/v1/subject-tokens", headers=auth(k), json={"subject": "user-5"}).json()
    theirs = c.get("/v1/me/records", headers=auth(t5["token"])).json()["items"]
    assert env["record"] not in [m["id"] for m in theirs] and len(theirs) == 1
    # a subject token opens nothing but /v1/me
    r = c.get(f"/v1/records/{env['record']}", headers=auth(t1["token"], "service"))
    assert r.status_code == 403
    # the person sets their own consent
    r = c.post("/v1/me/consents", headers=auth(t5["token"]),
               json={"purpose": "model_training", "action": "grant"})
    assert r.status_code == 201 and r.json()["source"] == "web"
    assert c.get("/v1/me/consents", headers=auth(t5["token"])).json()["current"][
        "model_training"]["granted"] is True


def test_expired_subject_token_is_401(env: dict[str, Any]) -> None:
    from datetime import timedelta

    from confida import subject_token

    vault: Vault = env["app"].state.ctx.vault()
    t = subject_token.issue(vault, "user-1", minutes=1, actor=ADMIN)
    later = vault.clock() + timedelta(minutes=2)
    real = vault.clock
    vault.clock = lambda: later
    try:
        r = env["client"].get("/v1/me/consents", headers=auth(t.token))
    finally:
        vault.clock = real
    assert r.status_code == 401 and r.json()["detail"] == "subject token expired"


# --- problems, headers, limits ---------------------------------------------------------------


def test_security_headers(env: dict[str, Any]) -> None:
    r = env["client"].get(f"/v1/records/{env['record']}",
                          headers=auth(env["keys"]["service"], "service"))
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "max-age=" in r.headers["strict-transport-security"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "server" not in r.headers


def test_validation_errors_are_problems_without_values(env: dict[str, Any]) -> None:
    r = env["client"].post("/v1/records", headers=auth(env["keys"]["service"]),
                           json={"subject": "secret-person@example.com", "kind": 5})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert "secret-person" not in r.text


def test_unknown_route_is_a_problem(env: dict[str, Any]) -> None:
    r = env["client"].get("/v1/nope")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_openapi_documents_problems_and_the_purpose_header(env: dict[str, Any]) -> None:
    doc = env["client"].get("/openapi.json").json()
    op = doc["paths"]["/v1/records/{record_id}"]["get"]
    assert "application/problem+json" in op["responses"]["403"]["content"]
    assert any(p["name"] == "Confida-Purpose" and p["in"] == "header" for p in op["parameters"])
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


def test_oversize_body_is_413(tmp_path: Path, database_url: str) -> None:
    cfg, keys = setup(tmp_path, database_url, api=ApiSettings(max_body_bytes=1024))
    with TestClient(create_app(cfg)) as c:
        big = {"subject": "u", "kind": "account", "purpose": "service",
               "data": {"email": "a@example.org", "display_name": "x" * 5000}}
        r = c.post("/v1/records", headers=auth(keys["service"]), json=big)
        assert r.status_code == 413 and r.headers["content-type"] == PROBLEM

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"subject": "u", "kind": "account", "purpose": "service", "data": {"x": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}}'

        r = c.post("/v1/records", headers={**auth(keys["service"]),
                                           "content-type": "application/json"},
                   content=chunks())
        assert r.status_code == 413


def test_rate_limit_is_per_key_with_retry_after(tmp_path: Path, database_url: str) -> None:
    cfg, keys = setup(tmp_path, database_url, api=ApiSettings(rate_per_second=0.5, rate_burst=3))
    with TestClient(create_app(cfg)) as c:
        codes = [c.get("/v1/register", headers=auth(keys["analyst"])).status_code
                 for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.get("/v1/register", headers=auth(keys["analyst"]))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["type"].endswith("/rate-limited")
        # another key has its own bucket
        assert c.get("/v1/register", headers=auth(keys["dpo"])).status_code == 200


def test_log_filter_removes_personal_data() -> None:
    flt = RedactingFilter()
    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                            '%s - "%s %s HTTP/%s" %d',
                            ("203.0.113.7:5555", "GET",
                             "/v1/subjects/jane.doe@example.com/records?kind=account", "1.1",
                             200), None)
    assert flt.filter(rec)
    out = rec.getMessage()
    assert "jane" not in out and "203.0.113.7" not in out and "account" not in out
    assert "/v1/subjects/" in out and "200" in out


def test_unknown_query_parameter_is_refused(env: dict[str, Any]) -> None:
    """A misspelt filter must not silently return everything."""
    r = env["client"].get("/v1/subjects/user-1/records?knd=account",
                          headers=auth(env["keys"]["admin"], "service"))
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    r = env["client"].get("/v1/subjects/user-1/records?kind=account",
                          headers=auth(env["keys"]["admin"], "service"))
    assert r.status_code == 200 and [m["kind"] for m in r.json()["items"]] == ["account"]


def test_legal_hold_endpoint_places_and_lifts_and_refuses_personal_data(
    env: dict[str, Any],
) -> None:
    c, k, rid = env["client"], env["keys"]["admin"], env["record"]
    url = f"/v1/records/{rid}/legal-hold"
    r = c.put(url, headers=auth(k), json={"hold": True, "reason": "Pending court case"})
    assert r.status_code == 200 and r.json() == {"record_id": rid, "legal_hold": True}
    assert c.get(f"/v1/records/{rid}", headers=auth(k, "service")).json()["legal_hold"] is True
    r = c.put(url, headers=auth(k), json={"hold": False, "reason": "jane.doe@example.com"})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert "jane.doe" not in r.text
    r = c.put(url, headers=auth(k), json={"hold": False, "reason": "Case closed"})
    assert r.status_code == 200 and r.json()["legal_hold"] is False
    assert c.put(url, headers=auth(k), json={"hold": True}).status_code == 422
