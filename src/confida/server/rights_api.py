"""Data subject rights, requests and the erasure feed over HTTP (``confida.rights``).

Each endpoint is one core call with the caller as its actor; the core decides (role action
``rights``, or ``requests`` for listing them) inside the operation it audits.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from confida import request as requests
from confida import rights
from confida.operation import Actor
from confida.server.deps import get_vault, no_unknown_query, staff
from confida.vault import Vault

router = APIRouter(prefix="/v1", tags=["rights"], dependencies=[Depends(no_unknown_query)])

VaultDep = Annotated[Vault, Depends(get_vault)]
StaffDep = Annotated[Actor, Depends(staff)]

VerifiedBy = Annotated[str, Field(min_length=1, max_length=200, description=(
    "how the host application verified the requester (e.g. `session:password+totp`); no "
    "personal data"))]
HostRequestId = Annotated[str, Field(min_length=1, max_length=128,
                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verified_by: VerifiedBy
    request_id: HostRequestId | None = None


class AccessIn(_In):
    portability: bool = False


class RectifyIn(_In):
    record_id: Annotated[str, Field(min_length=1, max_length=64)]
    data: dict[str, Any] = Field(min_length=1)


class RestrictIn(_In):
    lift: bool = False


class ObjectIn(_In):
    purpose: Annotated[str, Field(min_length=1, max_length=64)]


class RequestOut(BaseModel):
    id: str
    type: str
    subject: str = Field(description="the subject's pseudonym, never the host's id")
    status: str
    verified_by: str
    received_at: datetime
    due_at: datetime
    extended_months: int
    extension_reason: str | None
    closed_at: datetime | None
    rejection_reason: str | None
    overdue: bool
    details: dict[str, Any]


class ErasureOut(BaseModel):
    request: RequestOut
    records: int
    kept: list[dict[str, Any]]
    notice_id: int | None
    resumed: bool


class NoticeOut(BaseModel):
    id: int
    at: datetime
    references: list[dict[str, str]]


def _req(r: requests.Request) -> RequestOut:
    return RequestOut.model_validate(r, from_attributes=True)


@router.post(
    "/subjects/{subject_id}/access-export",
    response_class=Response,
    responses={200: {"description": "the Art. 15 / Art. 20 export (zip)",
                     "content": {"application/zip": {"schema": {"type": "string",
                                                                 "format": "binary"}}}}},
)
def access_export(subject_id: str, body: AccessIn, vault: VaultDep, actor: StaffDep) -> Response:
    """The subject's data and the facts about its processing, as a zip (Art. 15 / 20)."""
    buf = io.BytesIO()
    res = rights.access_export(vault, subject_id, buf, verified_by=body.verified_by,
                               request_id=body.request_id, portability=body.portability,
                               actor=actor)
    return Response(buf.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="access-export.zip"',
        "Confida-Request-Id": res.request.id, "Confida-Sha256": res.sha256})


@router.post("/subjects/{subject_id}/rectifications", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut)
def rectify(subject_id: str, body: RectifyIn, vault: VaultDep, actor: StaffDep) -> RequestOut:
    """Correct fields of one of the subject's records (Art. 16); the old value is not kept."""
    return _req(rights.rectify(vault, subject_id, body.record_id, body.data,
                               verified_by=body.verified_by, request_id=body.request_id,
                               actor=actor))


@router.post("/subjects/{subject_id}/restriction", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut)
def restrict(subject_id: str, body: RestrictIn, vault: VaultDep, actor: StaffDep) -> RequestOut:
    """Restrict processing (Art. 18), or lift a restriction with `lift: true`."""
    fn = rights.lift_restriction if body.lift else rights.restrict
    return _req(fn(vault, subject_id, verified_by=body.verified_by, request_id=body.request_id,
                   actor=actor))


@router.post("/subjects/{subject_id}/objections", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut)
def object_to(subject_id: str, body: ObjectIn, vault: VaultDep, actor: StaffDep) -> RequestOut:
    """Object to a purpose (Art. 21): it stops at once for this subject."""
    return _req(rights.object_to(vault, subject_id, body.purpose, verified_by=body.verified_by,
                                 request_id=body.request_id, actor=actor))


@router.post("/subjects/{subject_id}/erasure", response_model=ErasureOut)
def erase(subject_id: str, body: _In, vault: VaultDep, actor: StaffDep) -> ErasureOut:
    """Erase the subject (Art. 17): the data key is destroyed first; resumable, idempotent."""
    e = rights.erase(vault, subject_id, verified_by=body.verified_by,
                     request_id=body.request_id, actor=actor)
    return ErasureOut(request=_req(e.request), records=e.records, kept=e.kept,
                      notice_id=e.notice_id, resumed=e.resumed)


@router.get("/erasure-feed", response_model=list[NoticeOut])
def erasure_feed(
    vault: VaultDep, actor: StaffDep,
    since: Annotated[int, Query(ge=0, le=2**62, description="the last notice id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[NoticeOut]:
    """Erasure notices for downstream systems: only the references each was given."""
    return [NoticeOut(id=n.id, at=n.at, references=n.references)
            for n in rights.erasure_feed(vault, since, limit, actor=actor)]


@router.get("/requests", tags=["rights"], response_model=list[RequestOut])
def list_requests(
    vault: VaultDep, actor: StaffDep,
    overdue: bool = False,
    request_status: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[RequestOut]:
    """Requests by deadline, soonest first (`overdue=true`: open ones past their deadline)."""
    return [_req(r) for r in requests.list_requests(vault, overdue=overdue,
                                                    status=request_status, limit=limit,
                                                    actor=actor)]
