"""The OpenAPI document as a product: tags that mirror the docs, and examples for every operation.

FastAPI generates the document from the models and routes; :func:`enrich` post-processes it
(``server/app.py``'s ``_openapi``) so that neither has to carry documentation-only data:

- ``tags``: every tag the operations use, in the order of the docs, each with a description and
  ``externalDocs`` naming the page of ``docs/`` that explains it (relative to the source tree);
  an operation's duplicate tags are merged;
- examples keyed by ``operationId``: request bodies, 2xx responses (per media type) and named
  alternatives where one operation does two things (grant / withdraw, restrict / lift);
- one ``example`` per parameter name (``subject_id`` is ``user-1`` everywhere);
- problem responses refer to shared examples under ``components/examples`` by status.

Every value is fictional (``example.org`` addresses, subject ``user-1``, made-up ids, hashes of
labels) and ``tests/test_openapi_examples.py`` validates each against its schema. An operation
without an example here fails that test: add one when adding a route.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from confida.server import pagination

PROBLEM_MEDIA_TYPE = "application/problem+json"

# --- tags --------------------------------------------------------------------------------------


def _tag(name: str, description: str, page: str, what: str) -> dict[str, Any]:
    return {"name": name, "description": description,
            "externalDocs": {"description": what, "url": f"docs/{page}"}}


TAGS: list[dict[str, Any]] = [
    _tag("records", "Collect, read, update and list personal-data records: minimised to the "
         "register, encrypted under the subject's key, read for a stated purpose "
         "(`Confida-Purpose`), audited.", "api.md#endpoints", "docs/api.md — endpoints"),
    _tag("consents", "The append-only consent ledger per subject and purpose; a withdrawal "
         "applies to the very next read.", "api.md#endpoints", "docs/api.md — endpoints"),
    _tag("privacy center", "Subject tokens and privacy-center links, and `/v1/me`: the person's "
         "own records and consents.", "web.md", "docs/web.md — privacy center and console"),
    _tag("rights", "Data subject rights (Art. 15–21), the requests and their legal deadlines, "
         "and the erasure feed for downstream systems.", "rights.md",
         "docs/rights.md — data subject rights"),
    _tag("register", "The processing register in force: categories, kinds, purposes, roles.",
         "DESIGN.md#the-processing-register-the-single-source-of-truth",
         "docs/DESIGN.md — the processing register"),
    _tag("pii", "Detection and anonymisation of personal data in text that is not stored.",
         "pii.md#api", "docs/pii.md — PII detection and anonymisation"),
    _tag("audit", "The tamper-evident audit log: signed checkpoints and RFC 9162 inclusion and "
         "consistency proofs.", "audit.md", "docs/audit.md — the audit log"),
    _tag("meta", "Liveness and readiness; no authentication, no personal data.",
         "operations.md#serving-shutdown-health-and-readiness",
         "docs/operations.md — health and readiness"),
]

# --- fictional values --------------------------------------------------------------------------

SUBJECT = "user-1"
RECORD_ID = "0b5e7c1a-8d3f-4e2b-9a61-5c4d3e2f1a0b"
RECORD_ID_2 = "6f1d2c3b-4a59-4e87-b6c5-d4e3f2a1b0c9"
REQUEST_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
PSEUDONYM = "7c9e2f4a1b3d5e6f8091a2b3c4d5e6f7"
T0 = "2026-03-01T09:30:00Z"
T1 = "2026-03-02T14:05:00Z"
DUE = "2026-04-01T09:30:00Z"
RETAIN = "2028-03-01T09:30:00Z"
EMAIL = "jane.doe@example.org"
TOKEN = "cst_v1.eyJleGFtcGxlIjoidXNlci0xIn0.ZXhhbXBsZS1zaWduYXR1cmU"
VERIFIED_BY = "session:password+totp"
RECORDS_CURSOR = pagination.encode("records", datetime(2026, 3, 1, 9, 30, tzinfo=UTC), RECORD_ID)
REQUESTS_CURSOR = pagination.encode("requests", datetime(2026, 4, 1, 9, 30, tzinfo=UTC),
                                    REQUEST_ID)
FEED_CURSOR = pagination.encode("erasure-feed", 42)


def _hash(label: str) -> str:
    """A made-up base64 SHA-256 (of ``label``), shaped like the audit log's hashes."""
    return base64.b64encode(hashlib.sha256(label.encode()).digest()).decode("ascii")


def _ex(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


def _meta(record_id: str, kind: str, summary: dict[str, int], *, hold: bool = False,
          updated: str = T0) -> dict[str, Any]:
    return {"id": record_id, "kind": kind, "purpose": "service", "created_at": T0,
            "updated_at": updated, "retain_until": RETAIN, "pii_summary": summary,
            "legal_hold": hold}


MESSAGE = {"conversation_id": "conv-1", "role": "user",
           "text": f"Hi, I am Jane Doe, write to me at {EMAIL}"}
COLLECTED = {"record_id": RECORD_ID, "kind": "conversation_message", "purpose": "service",
             "retain_until": RETAIN, "dropped_fields": 0, "pii_summary": {"EMAIL": 1, "PERSON": 1}}
RECORD = {**_meta(RECORD_ID, "conversation_message", {"EMAIL": 1, "PERSON": 1}),
          "data": MESSAGE, "withheld_fields": 0}
RECORD_PAGE = {"items": [_meta(RECORD_ID, "conversation_message", {"EMAIL": 1, "PERSON": 1}),
                         _meta(RECORD_ID_2, "account", {})],
               "next": RECORDS_CURSOR}
GRANT = {"id": 7, "purpose": "model_training", "action": "grant", "at": T0, "source": "api",
         "notice_version": "2026-01"}
WITHDRAW = {"id": 8, "purpose": "model_training", "action": "withdraw", "at": T1,
            "source": "web", "notice_version": "2026-01"}
CONSENTS = {"current": {"model_training": {"granted": False, "since": T1,
                                           "notice_version": "2026-01"}},
            "history": [GRANT, WITHDRAW]}


def _request(kind: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"id": REQUEST_ID, "type": kind, "subject": PSEUDONYM, "status": "completed",
            "verified_by": VERIFIED_BY, "received_at": T0, "due_at": DUE, "extended_months": 0,
            "extension_reason": None, "closed_at": T0, "rejection_reason": None,
            "overdue": False, "details": details}


KEPT = {"record": RECORD_ID_2, "kind": "account", "purpose": "service", "ground": "legal_hold",
        "article": "Art. 17(3)(e) GDPR: establishment, exercise or defence of legal claims",
        "retain_until": RETAIN}
NOTE = (f"confida.local/audit\n42\n{_hash('root-42')}\n\n"
        f"\u2014 confida.local/audit {_hash('signature-42')}\n")

REGISTER = {
    "version": 1,
    "controller": {"name": "Example AI GmbH", "address": "Example Street 1, 10115 Berlin",
                   "email": "privacy@example.org", "representative": None,
                   "dpo": {"name": "Data Protection Officer", "email": "dpo@example.org",
                           "address": None, "phone": None},
                   "supervisory_authority": None},
    "categories": {"contact.email": {"description": "E-mail address", "special": False,
                                     "personal": True}},
    "kinds": {"account": {"description": "The user's account", "fields": {
        "email": {"category": "contact.email", "type": "string", "scan": False,
                  "required": True, "max_length": 320}},
        "retention": None, "quasi_identifiers": [], "anonymization": {}}},
    "purposes": {"service": {"description": "To provide the assistant you signed up for.",
                             "legal_basis": "contract", "consent_required": False,
                             "categories": ["contact.email"], "kinds": ["account"],
                             "retention": "2 years", "compatible_with": {}}},
    "roles": {"support": {"description": "Customer support", "actions": ["read", "list"],
                          "purposes": ["service"], "categories": ["contact.email"],
                          "masking": {"contact.email": "email"}}},
    "notice": {},
}

# --- parameters: one example per name ------------------------------------------------------------

PARAMETERS: dict[str, Any] = {
    "subject_id": SUBJECT,
    "record_id": RECORD_ID,
    "Confida-Purpose": "service",
    "kind": "conversation_message",
    "collected_for": "service",
    "limit": 100,
    "cursor": RECORDS_CURSOR,
    "since": 41,
    "overdue": True,
    "status": "open",
    "index": 1,
    "tree_size": 5,
    "first": 3,
    "second": 7,
}
# where one list's cursor would be refused by another
PARAMETERS_BY_OPERATION: dict[str, dict[str, Any]] = {
    "listErasureNotices": {"cursor": FEED_CURSOR, "limit": 500},
    "listRequests": {"cursor": REQUESTS_CURSOR},
}

# --- operations ----------------------------------------------------------------------------------
# operationId -> {"request": {name: example}, "responses": {status: {media type: {name: ex}}}}

_JSON = "application/json"


def _ok(status: str, value: Any, summary: str = "Example") -> dict[str, Any]:
    return {status: {_JSON: {"example": _ex(summary, value)}}}


def _req(value: Any, summary: str = "Example") -> dict[str, Any]:
    return {"example": _ex(summary, value)}


OPERATIONS: dict[str, dict[str, Any]] = {
    "collectRecord": {
        "request": _req({"subject": SUBJECT, "kind": "conversation_message",
                         "purpose": "service", "data": MESSAGE}, "A chat message"),
        "responses": _ok("201", COLLECTED),
    },
    "collectRecords": {
        "request": _req({"items": [
            {"subject": SUBJECT, "kind": "account", "purpose": "service",
             "data": {"email": EMAIL, "display_name": "Jane Doe", "locale": "en-GB"}},
            {"subject": "user-2", "kind": "usage_event", "purpose": "safety",
             "data": {"event": "login", "country": "DE"}},
        ]}, "Two records, stored all or none"),
        "responses": _ok("201", {"records": [
            {**COLLECTED, "record_id": RECORD_ID_2, "kind": "account", "pii_summary": {}},
            {"record_id": RECORD_ID, "kind": "usage_event", "purpose": "safety",
             "retain_until": "2026-03-31T09:30:00Z", "dropped_fields": 0, "pii_summary": {}},
        ]}),
    },
    "getRecord": {"responses": _ok("200", RECORD)},
    "updateRecord": {
        "request": _req({"data": {"role": "assistant"}}),
        "responses": _ok("200", {**RECORD, "updated_at": T1,
                                 "data": {**MESSAGE, "role": "assistant"}}),
    },
    "setLegalHold": {
        "request": {
            "place": _ex("Place a hold", {"hold": True, "reason": "Litigation 2026-17"}),
            "lift": _ex("Lift it", {"hold": False, "reason": "Litigation 2026-17 closed"}),
        },
        "responses": _ok("200", {"record_id": RECORD_ID, "legal_hold": True}),
    },
    "listSubjectRecords": {"responses": _ok("200", RECORD_PAGE, "A full page: `next` is set")},
    "getConsents": {"responses": _ok("200", CONSENTS)},
    "recordConsent": {
        "request": {
            "grant": _ex("Grant", {"purpose": "model_training", "action": "grant",
                                   "notice_version": "2026-01"}),
            "withdraw": _ex("Withdraw", {"purpose": "model_training", "action": "withdraw"}),
        },
        "responses": _ok("201", GRANT),
    },
    "issueSubjectToken": {
        "request": _req({"subject": SUBJECT, "minutes": 15, "use": "api"}),
        "responses": _ok("201", {"token": TOKEN, "expires_at": "2026-03-01T09:45:00Z"}),
    },
    "createPrivacyLink": {
        "request": _req({"minutes": 10}),
        "responses": _ok("201", {"url": f"https://confida.example.org/privacy/enter?token={TOKEN}",
                                 "expires_at": "2026-03-01T09:40:00Z"}),
    },
    "listMyRecords": {"responses": _ok("200", {**RECORD_PAGE, "next": None}, "The last page")},
    "getMyConsents": {"responses": _ok("200", CONSENTS)},
    "setMyConsent": {
        "request": _req({"purpose": "model_training", "action": "withdraw"}, "Opt out"),
        "responses": _ok("201", WITHDRAW),
    },
    "getRegister": {"responses": _ok("200", REGISTER, "A register, shortened")},
    "scanText": {
        "request": _req({"text": f"Write to {EMAIL} or call +49 30 1234567"}),
        "responses": _ok("200", {"findings": [
            {"start": 9, "end": 29, "label": "EMAIL", "score": 0.95},
            {"start": 38, "end": 52, "label": "PHONE", "score": 0.9},
        ], "summary": {"EMAIL": 1, "PHONE": 1}}),
    },
    "redactText": {
        "request": _req({"text": f"Jane Doe wrote from {EMAIL}",
                         "policy": {"default": "replace", "PERSON": "pseudonymize"}}),
        "responses": _ok("200", {"text": "<PERSON_1> wrote from <EMAIL>", "replaced": 2}),
    },
    "exportAccess": {
        "request": _req({"verified_by": VERIFIED_BY, "request_id": "ticket-4711",
                         "portability": False}),
    },
    "rectifyRecord": {
        "request": _req({"verified_by": VERIFIED_BY, "request_id": "ticket-4712",
                         "record_id": RECORD_ID_2, "data": {"display_name": "Jane Roe"}}),
        "responses": _ok("201", _request("rectification", {"record": RECORD_ID_2,
                                                           "fields": ["display_name"]})),
    },
    "restrictProcessing": {
        "request": {
            "restrict": _ex("Restrict", {"verified_by": VERIFIED_BY}),
            "lift": _ex("Lift the restriction", {"verified_by": VERIFIED_BY, "lift": True}),
        },
        "responses": _ok("201", _request("restriction", {"previous": "active",
                                                         "status": "restricted"})),
    },
    "objectToPurpose": {
        "request": _req({"verified_by": VERIFIED_BY, "purpose": "safety"}),
        "responses": _ok("201", _request("objection", {"purpose": "safety",
                                                       "effect": "objection_recorded"})),
    },
    "eraseSubject": {
        "request": _req({"verified_by": VERIFIED_BY, "request_id": "ticket-4713"}),
        "responses": _ok("200", {
            "request": _request("erasure", {"deleted": 3, "kept": [KEPT], "notice": 42}),
            "records": 4, "kept": [KEPT], "notice_id": 42, "resumed": False,
        }, "One record kept under a legal hold"),
    },
    "registerReference": {
        "request": _req({"system": "chat-cache", "reference": "u_5f3a9c"},
                        "The chat app's own key for the person"),
        "responses": _ok("201", {"system": "chat-cache", "reference": "u_5f3a9c",
                                 "created": True}),
    },
    "listErasureNotices": {
        "responses": _ok("200", {"items": [{"id": 42, "at": T0, "references": [
            {"system": "dataset:train-2026-02", "reference": "ds-ref-93f1"},
            {"system": "chat-cache", "reference": "u_5f3a9c"}]}],
            "next": None, "last_id": 42}),
    },
    "listRequests": {
        "responses": _ok("200", {"items": [
            {**_request("access", {"records": 4, "files": 6}), "status": "open",
             "closed_at": None, "overdue": True},
        ], "next": REQUESTS_CURSOR}),
    },
    "getLatestCheckpoint": {
        "responses": {"200": {
            "text/plain": {"note": _ex("The signed note (default)", NOTE)},
            _JSON: {"json": _ex("With `Accept: application/json`",
                                {"tree_size": 42, "note": NOTE, "created_at": T0})},
        }},
    },
    "getInclusionProof": {
        "responses": _ok("200", {"index": 1, "tree_size": 5, "leaf_hash": _hash("leaf-1"),
                                 "root": _hash("root-5"),
                                 "proof": [_hash("p0"), _hash("p1"), _hash("p2")]}),
    },
    "getConsistencyProof": {
        "responses": _ok("200", {"first": 3, "second": 7, "first_root": _hash("root-3"),
                                 "second_root": _hash("root-7"),
                                 "proof": [_hash("c0"), _hash("c1"), _hash("c2")]}),
    },
    "getHealth": {"responses": _ok("200", {"status": "ok", "version": "0.1.0"})},
    "getReadiness": {
        "responses": {
            **_ok("200", {"status": "ready", "checks": {"record_store": "ok",
                                                        "key_store": "ok", "kek": "ok"}}),
            "503": {PROBLEM_MEDIA_TYPE: {"notReady": _ex("The key store does not answer", {
                "type": "https://confida.dev/problems/not-ready", "title": "Service unavailable",
                "status": 503, "detail": "not ready: key_store",
                "checks": {"record_store": "ok", "key_store": "unavailable", "kek": "ok"}})}},
        },
    },
}

# --- problems: one shared example per status ------------------------------------------------------


def _problem(code: str, title: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return _ex(detail, {"type": f"https://confida.dev/problems/{code}", "title": title,
                        "status": status, "detail": detail, **extra})


PROBLEMS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("problemPurposeRequired", _problem(
        "purpose-required", "Bad request", 400,
        "state the purpose of this read in the Confida-Purpose header")),
    "401": ("problemUnauthenticated", _problem(
        "unauthenticated", "Unauthenticated", 401, "no valid credential")),
    "403": ("problemAccessDenied", _problem(
        "access-denied", "Forbidden", 403, "role 'analyst' may not read")),
    "404": ("problemNotFound", _problem("not-found", "Not found", 404, "no such record")),
    "409": ("problemSubjectRestricted", _problem(
        "subject-restricted", "Conflict", 409, "processing of this subject is restricted")),
    "410": ("problemSubjectErased", _problem(
        "subject-erased", "Gone", 410, "the subject was erased")),
    "413": ("problemPayloadTooLarge", _problem(
        "payload-too-large", "Payload too large", 413,
        "the request body is larger than 8388608 bytes")),
    "422": ("problemInvalidRequest", _problem(
        "invalid-request", "Unprocessable content", 422,
        "the request does not match the API schema",
        errors=[{"loc": ["body", "purpose"], "msg": "Field required", "type": "missing"}])),
    "429": ("problemRateLimited", _problem(
        "rate-limited", "Too many requests", 429,
        "rate limit exceeded for this credential; retry later")),
    "503": ("problemOverloaded", _problem(
        "overloaded", "Service unavailable", 503,
        "the server is at capacity; retry after the delay in Retry-After")),
}


# --- the post-processing -------------------------------------------------------------------------


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in doc.get("paths", {}).values() for op in item.values()
            if isinstance(op, dict) and "responses" in op]


def enrich(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the tags, examples and problem examples to ``doc`` (in place), and return it."""
    used: list[str] = []
    for op in _operations(doc):
        if "tags" in op:
            op["tags"] = list(dict.fromkeys(op["tags"]))
            used += [t for t in op["tags"] if t not in used]
        _add_examples(op)
    declared = [t for t in TAGS if t["name"] in used]
    names = {t["name"] for t in declared}
    doc["tags"] = declared + [{"name": t} for t in used if t not in names]
    examples = doc.setdefault("components", {}).setdefault("examples", {})
    for name, example in PROBLEMS.values():
        examples[name] = example
    return doc


def _add_examples(op: dict[str, Any]) -> None:
    spec = OPERATIONS.get(op.get("operationId", ""), {})
    params = {**PARAMETERS, **PARAMETERS_BY_OPERATION.get(op.get("operationId", ""), {})}
    for p in op.get("parameters", []):
        if p.get("name") in params:
            p["example"] = params[p["name"]]
    if "request" in spec:
        for media in op.get("requestBody", {}).get("content", {}).values():
            media["examples"] = spec["request"]
    for status, response in op.get("responses", {}).items():
        own = spec.get("responses", {}).get(status, {})
        for media_type, media in response.get("content", {}).items():
            if media_type in own:
                media["examples"] = own[media_type]
            elif media_type == PROBLEM_MEDIA_TYPE and status in PROBLEMS:
                name = PROBLEMS[status][0]
                media["examples"] = {name: {"$ref": f"#/components/examples/{name}"}}
