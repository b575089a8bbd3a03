"""Data subject rights, requests and the erasure feed over HTTP (``confida.rights``).

Each endpoint is one core call with the caller as its actor; the core decides (role action
``rights``, or ``requests`` for listing them) inside the operation it audits.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from confida import request as requests
from confida import rights
from confida.errors import BadInput
from confida.operation import Actor
from confida.rights import feed
from confida.server import pagination
from confida.server.deps import get_vault, no_unknown_query, staff
from confida.vault import Vault

router = APIRouter(prefix="/v1", tags=["rights"], dependencies=[Depends(no_unknown_query)])

VaultDep = Annotated[Vault, Depends(get_vault)]
SubjectId = Annotated[str, Path(min_length=1, max_length=256, description=(
    "The host application's subject id (percent-encode it; `/` may stay as is)."))]
StaffDep = Annotated[Actor, Depends(staff)]

VerifiedBy = Annotated[str, Field(min_length=1, max_length=200, description=(
    "how the host application verified the requester (e.g. `session:password+totp`); no "
    "personal data"))]
HostRequestId = Annotated[str, Field(min_length=1, max_length=128,
                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


class RightsRequestIn(BaseModel):
    """What every data-subject request carries: how the requester was verified, and the
    host's own id for the request (makes a retry idempotent)."""

    model_config = ConfigDict(extra="forbid")
    verified_by: VerifiedBy
    request_id: HostRequestId | None = None


class AccessIn(RightsRequestIn):
    portability: bool = False


class RectifyIn(RightsRequestIn):
    record_id: Annotated[str, Field(min_length=1, max_length=64)]
    data: dict[str, Any] = Field(min_length=1)


class RestrictIn(RightsRequestIn):
    lift: bool = False


class ObjectIn(RightsRequestIn):
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
    "/subjects/{subject_id:path}/access-export",
    response_class=Response,
    operation_id="exportAccess",
    responses={200: {"description": "the Art. 15 / Art. 20 export (zip)",
                     "content": {"application/zip": {"schema": {"type": "string",
                                                                 "format": "binary"}}}}},
)
def access_export(subject_id: SubjectId, body: AccessIn, vault: VaultDep,
                  actor: StaffDep) -> Response:
    """The subject's data and the facts about its processing, as a zip (Art. 15 / 20)."""
    buf = io.BytesIO()
    res = rights.access_export(vault, subject_id, buf, verified_by=body.verified_by,
                               request_id=body.request_id, portability=body.portability,
                               actor=actor)
    return Response(buf.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="access-export.zip"',
        "Confida-Request-Id": res.request.id, "Confida-Sha256": res.sha256})


@router.post("/subjects/{subject_id:path}/rectifications", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut, operation_id="rectifyRecord")
def rectify(subject_id: SubjectId, body: RectifyIn, vault: VaultDep, actor: StaffDep) -> RequestOut:
    """Correct fields of one of the subject's records (Art. 16); the old value is not kept."""
    return _req(rights.rectify(vault, subject_id, body.record_id, body.data,
                               verified_by=body.verified_by, request_id=body.request_id,
                               actor=actor))


@router.post("/subjects/{subject_id:path}/restriction", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut, operation_id="restrictProcessing")
def restrict(subject_id: SubjectId, body: RestrictIn, vault: VaultDep,
             actor: StaffDep) -> RequestOut:
    """Restrict processing (Art. 18), or lift a restriction with `lift: true`."""
    fn = rights.lift_restriction if body.lift else rights.restrict
    return _req(fn(vault, subject_id, verified_by=body.verified_by, request_id=body.request_id,
                   actor=actor))


@router.post("/subjects/{subject_id:path}/objections", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut, operation_id="objectToPurpose")
def object_to(subject_id: SubjectId, body: ObjectIn, vault: VaultDep,
              actor: StaffDep) -> RequestOut:
    """Object to a purpose (Art. 21): it stops at once for this subject."""
    return _req(rights.object_to(vault, subject_id, body.purpose, verified_by=body.verified_by,
                                 request_id=body.request_id, actor=actor))


class ErasureIn(RightsRequestIn):
    pass


@router.post("/subjects/{subject_id:path}/erasure", response_model=ErasureOut,
             operation_id="eraseSubject")
def erase(subject_id: SubjectId, body: ErasureIn, vault: VaultDep, actor: StaffDep) -> ErasureOut:
    """Erase the subject (Art. 17): the data key is destroyed first; resumable, idempotent."""
    e = rights.erase(vault, subject_id, verified_by=body.verified_by,
                     request_id=body.request_id, actor=actor)
    return ErasureOut(request=_req(e.request), records=e.records, kept=e.kept,
                      notice_id=e.notice_id, resumed=e.resumed)


class ErasureNoticePage(BaseModel):
    items: list[NoticeOut]
    next: str | None = Field(description="cursor of the next page; null when this page was "
                             "not full")
    last_id: int = Field(description="the last notice id seen: a poller stores it and passes "
                         "it back as `since` (the same as the cursor, in the clear)")


@router.get("/erasure-feed", response_model=ErasureNoticePage, operation_id="listErasureNotices")
def erasure_feed(
    request: Request, response: Response, vault: VaultDep, actor: StaffDep,
    since: Annotated[int | None, Query(ge=0, le=2**62,
                                       description="the last notice id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_PAGE)] = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> ErasureNoticePage:
    """Erasure notices for downstream systems, oldest first: only the references each was
    given. Page with `cursor` (or `since`, the last notice id seen; not both)."""
    if cursor is not None and since is not None:
        raise BadInput("give `cursor` or `since`, not both")
    start = pagination.decode("erasure-feed", cursor, (int,))[0] if cursor else since or 0
    notices = rights.erasure_feed(vault, start, limit, actor=actor)
    last = notices[-1].id if notices else start
    nxt = pagination.encode("erasure-feed", last) if len(notices) == limit else None
    pagination.link_next(request, response, nxt)
    return ErasureNoticePage(items=[NoticeOut(id=n.id, at=n.at, references=n.references)
                                    for n in notices], next=nxt, last_id=last)


class RequestPage(BaseModel):
    items: list[RequestOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


@router.get("/requests", tags=["rights"], response_model=RequestPage, operation_id="listRequests")
def list_requests(
    request: Request, response: Response, vault: VaultDep, actor: StaffDep,
    overdue: bool = False,
    request_status: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> RequestPage:
    """Requests by deadline, soonest first (`overdue=true`: open ones past their deadline)."""
    after = pagination.decode("requests", cursor, (datetime, str)) if cursor else None
    rows = requests.list_requests(vault, overdue=overdue, status=request_status, limit=limit,
                                  actor=actor, after=after)
    nxt = (pagination.encode("requests", rows[-1].due_at, rows[-1].id)
           if len(rows) == limit else None)
    pagination.link_next(request, response, nxt)
    return RequestPage(items=[_req(r) for r in rows], next=nxt)
