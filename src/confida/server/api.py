"""The REST API under ``/v1``: thin adapters over the core (no rule lives here).

Every route authenticates the caller, then calls one core function with the caller as ``actor``;
the core decides (role x action x purpose x category), audits and raises typed errors that
``problems`` turns into RFC 9457 responses. Reads of personal data take the purpose from the
``Confida-Purpose`` header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status

from confida import consent, record, register_view, subject_token, text_scan
from confida.api_models import (
    BatchIn,
    BatchOut,
    CollectedOut,
    CollectIn,
    ConsentEventOut,
    ConsentIn,
    ConsentsOut,
    ConsentStateOut,
    FindingOut,
    LegalHoldIn,
    LegalHoldOut,
    PrivacyLinkIn,
    PrivacyLinkOut,
    RecordMetaOut,
    RecordOut,
    RecordPage,
    RedactIn,
    RedactOut,
    ScanIn,
    ScanOut,
    SubjectTokenIn,
    SubjectTokenOut,
    UpdateIn,
)
from confida.operation import Actor
from confida.rights import erasure
from confida.server import pagination
from confida.server import paths as _paths  # noqa: F401  (registers {subject_id:subject})
from confida.server.deps import Caller, get_vault, no_unknown_query, purpose, staff, subject
from confida.vault import Vault

router = APIRouter(prefix="/v1", dependencies=[Depends(no_unknown_query)])

SubjectId = Annotated[
    str, Path(min_length=1, max_length=256, description="The host application's subject id.")
]
RecordId = Annotated[str, Path(min_length=1, max_length=64, description="A record id (UUID).")]


VaultDep = Annotated[Vault, Depends(get_vault)]
StaffDep = Annotated[Actor, Depends(staff)]
SubjectDep = Annotated[Caller, Depends(subject)]
PurposeDep = Annotated[str, Depends(purpose)]


def _record_out(r: record.Record) -> RecordOut:
    return RecordOut.model_validate(r, from_attributes=True)


def _meta_out(r: record.RecordMeta) -> RecordMetaOut:
    return RecordMetaOut.model_validate(r, from_attributes=True)


def _consents_out(current: dict[str, dict[str, object]], events: list[Any]) -> ConsentsOut:
    return ConsentsOut(
        current={k: ConsentStateOut.model_validate(v) for k, v in current.items()},
        history=[ConsentEventOut.model_validate(e, from_attributes=True) for e in events],
    )


# --- records ------------------------------------------------------------------------------


@router.post("/records", status_code=status.HTTP_201_CREATED, tags=["records"],
             response_model=CollectedOut, operation_id="collectRecord")
def collect_record(body: CollectIn, vault: VaultDep, actor: StaffDep) -> CollectedOut:
    """Store one record through the full flow: minimise, check the legal basis and consent,
    scan free text, encrypt under the subject's key, set its retention deadline, audit."""
    c = record.collect(vault, body.subject, body.kind, body.data, body.purpose, actor=actor)
    return CollectedOut.model_validate(c, from_attributes=True)


@router.post("/records/batch", status_code=status.HTTP_201_CREATED, tags=["records"],
             response_model=BatchOut, operation_id="collectRecords")
def collect_batch(body: BatchIn, vault: VaultDep, actor: StaffDep) -> BatchOut:
    """Store many records atomically: all or none; the error names the failing item."""
    items = [record.CollectItem(i.subject, i.kind, i.data, i.purpose) for i in body.items]
    out = record.collect_many(vault, items, actor=actor)
    return BatchOut(records=[CollectedOut.model_validate(c, from_attributes=True) for c in out])


@router.get("/records/{record_id}", tags=["records"], response_model=RecordOut,
            operation_id="getRecord")
def get_record(record_id: RecordId, vault: VaultDep, actor: StaffDep,
               for_purpose: PurposeDep) -> RecordOut:
    """Read one record for the stated purpose, with the fields the purpose and role may see,
    masked per the role."""
    return _record_out(record.read(vault, record_id, for_purpose, actor=actor))


@router.patch("/records/{record_id}", tags=["records"], response_model=RecordOut,
              operation_id="updateRecord")
def update_record(record_id: RecordId, body: UpdateIn, vault: VaultDep, actor: StaffDep,
                  for_purpose: PurposeDep) -> RecordOut:
    """Change fields of a record (the old values are not kept)."""
    return _record_out(record.update(vault, record_id, body.data, for_purpose, actor=actor))


@router.put("/records/{record_id}/legal-hold", tags=["records"], response_model=LegalHoldOut,
            operation_id="setLegalHold")
def put_legal_hold(record_id: RecordId, body: LegalHoldIn, vault: VaultDep,
                   actor: StaffDep) -> LegalHoldOut:
    """Place or lift a legal hold (Art. 17(3)(e)): a held record survives erasure and
    retention. The role needs the `legal_hold` action; the reason is not logged."""
    held = erasure.set_legal_hold(vault, record_id, body.hold, body.reason, actor=actor)
    return LegalHoldOut(record_id=record_id, legal_hold=held)


def _record_page(request: Request, response: Response, rows: list[record.RecordMeta],
                 limit: int) -> RecordPage:
    nxt = pagination.next_page(request, response, rows, limit, "records",
                               lambda r: (r.created_at, r.id))
    return RecordPage(items=[_meta_out(r) for r in rows], next=nxt)


def _record_after(cursor: str | None) -> tuple[datetime, str] | None:
    return None if cursor is None else pagination.decode("records", cursor, (datetime, str))


@router.get("/subjects/{subject_id:subject}/records", tags=["records"],
            response_model=RecordPage, operation_id="listSubjectRecords")
def list_subject_records(
    subject_id: SubjectId, request: Request, response: Response, vault: VaultDep,
    actor: StaffDep, for_purpose: PurposeDep,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    collected_for: Annotated[str | None, Query(max_length=64,
                                               description="only records collected for this "
                                               "purpose")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> RecordPage:
    """A subject's records, oldest first: metadata only, nothing is decrypted."""
    rows = record.list_records(vault, subject_id, kind=kind, purpose=collected_for, limit=limit,
                               actor=actor, for_purpose=for_purpose,
                               after=_record_after(cursor))
    return _record_page(request, response, rows, limit)


# --- consents -----------------------------------------------------------------------------


@router.get("/subjects/{subject_id:subject}/consents", tags=["consents"],
            response_model=ConsentsOut, operation_id="getConsents")
def get_consents(subject_id: SubjectId, vault: VaultDep, actor: StaffDep,
                 for_purpose: PurposeDep) -> ConsentsOut:
    """The subject's current consents and the full ledger history."""
    current, events = consent.show(vault, subject_id, actor=actor, for_purpose=for_purpose)
    return _consents_out(current, events)


@router.post("/subjects/{subject_id:subject}/consents", status_code=status.HTTP_201_CREATED,
             tags=["consents"], response_model=ConsentEventOut, operation_id="recordConsent")
def record_consent(subject_id: SubjectId, body: ConsentIn, vault: VaultDep,
                   actor: StaffDep) -> ConsentEventOut:
    """Append a grant or a withdrawal; a withdrawal applies to the very next read."""
    e = consent.record_event(vault, subject_id, body.purpose, body.action, source="api",
                             notice_version=body.notice_version, actor=actor)
    return ConsentEventOut.model_validate(e, from_attributes=True)


# --- subject tokens and the subject's own view -----------------------------------------------


@router.post("/subject-tokens", status_code=status.HTTP_201_CREATED, tags=["privacy center"],
             response_model=SubjectTokenOut, operation_id="issueSubjectToken")
def issue_subject_token(body: SubjectTokenIn, vault: VaultDep,
                        actor: StaffDep) -> SubjectTokenOut:
    """A token scoped to one subject, at most 15 minutes long (role needs `rights`)."""
    t = subject_token.issue(vault, body.subject, minutes=body.minutes, use=body.use,
                            actor=actor)
    return SubjectTokenOut(token=t.token, expires_at=t.expires_at)


@router.post("/subjects/{subject_id:subject}/privacy-link", status_code=status.HTTP_201_CREATED,
             tags=["privacy center"], response_model=PrivacyLinkOut,
             operation_id="createPrivacyLink")
def privacy_link(subject_id: SubjectId, request: Request, vault: VaultDep, actor: StaffDep,
                 body: Annotated[PrivacyLinkIn | None, Body()] = None) -> PrivacyLinkOut:
    """A single-use privacy-center link for the subject, to hand to the person after the host's
    own login (role needs `rights`). It opens one session, once, within its lifetime."""
    link = subject_token.privacy_link(vault, subject_id, base_url=str(request.base_url),
                                      minutes=body.minutes if body else None, actor=actor)
    return PrivacyLinkOut(url=link.url, expires_at=link.expires_at)


@router.get("/me/records", tags=["privacy center"], response_model=RecordPage,
            operation_id="listMyRecords")
def my_records(request: Request, response: Response, vault: VaultDep, caller: SubjectDep,
               limit: pagination.Limit = pagination.DEFAULT_LIMIT,
               cursor: pagination.Cursor = None) -> RecordPage:
    """The token holder's own records (metadata), as the right of access (Art. 15) gives."""
    rows = record.list_records(vault, "", subject_id=caller.subject_id, actor=caller.actor,
                               limit=limit, after=_record_after(cursor))
    return _record_page(request, response, rows, limit)


@router.get("/me/consents", tags=["privacy center"], response_model=ConsentsOut,
            operation_id="getMyConsents")
def my_consents(vault: VaultDep, caller: SubjectDep) -> ConsentsOut:
    current, events = consent.show(vault, subject_id=caller.subject_id, actor=caller.actor)
    return _consents_out(current, events)


@router.post("/me/consents", status_code=status.HTTP_201_CREATED, tags=["privacy center"],
             response_model=ConsentEventOut, operation_id="setMyConsent")
def set_my_consent(body: ConsentIn, vault: VaultDep, caller: SubjectDep) -> ConsentEventOut:
    """The person grants or withdraws a consent themselves (source `web`)."""
    e = consent.record_event(vault, "", body.purpose, body.action, source="web",
                             notice_version=body.notice_version, actor=caller.actor,
                             subject_id=caller.subject_id)
    return ConsentEventOut.model_validate(e, from_attributes=True)


# --- the register -------------------------------------------------------------------------


@router.get("/register", tags=["register"], response_model=dict[str, Any],
            operation_id="getRegister")
def get_register(vault: VaultDep, actor: StaffDep) -> dict[str, Any]:
    """The processing register in force (categories, kinds, purposes, roles)."""
    return register_view.read_register(vault, actor=actor)


# --- PII detection (when confida.pii is installed) -----------------------------------------


def pii_router() -> APIRouter:
    """PII endpoints: detection and anonymisation of text that is not stored."""
    r = APIRouter(prefix="/v1/pii", tags=["pii"], dependencies=[Depends(no_unknown_query)])

    @r.post("/scan", response_model=ScanOut, operation_id="scanText")
    def scan(body: Annotated[ScanIn, Body()], vault: VaultDep, actor: StaffDep) -> ScanOut:
        """Find personal data in text: spans and labels (the text is not stored)."""
        found, summary = text_scan.scan(vault, body.text, actor=actor)
        return ScanOut(
            findings=[FindingOut(start=f.start, end=f.end, label=f.label, score=float(f.score))
                      for f in found],
            summary=summary,
        )

    @r.post("/redact", response_model=RedactOut, operation_id="redactText")
    def redact(body: Annotated[RedactIn, Body()], vault: VaultDep, actor: StaffDep) -> RedactOut:
        """Anonymise text per a policy (default: replace every finding by its label)."""
        res = text_scan.redact(vault, body.text, body.policy, actor=actor)
        return RedactOut(text=res.text, replaced=len(res.items))

    return r
