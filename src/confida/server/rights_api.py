"""Data subject rights, requests and the erasure feed over HTTP (``confida.rights``).

Each endpoint is one core call with the caller as its actor; the core decides (role action
``rights``, or ``requests`` for listing them) inside the operation it audits.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from confida import downstream, rights
from confida import request as requests
from confida.api_models import (
    AccessIn,
    ErasureIn,
    ErasureNoticePage,
    ErasureOut,
    NoticeOut,
    ObjectIn,
    RectifyIn,
    ReferenceIn,
    ReferenceOut,
    RequestOut,
    RequestPage,
    RestrictIn,
)
from confida.errors import BadInput
from confida.operation import Actor
from confida.rights import feed
from confida.server import pagination
from confida.server import paths as _paths  # noqa: F401  (registers {subject_id:subject})
from confida.server.deps import get_vault, no_unknown_query, staff
from confida.vault import Vault

router = APIRouter(prefix="/v1", tags=["rights"], dependencies=[Depends(no_unknown_query)])

VaultDep = Annotated[Vault, Depends(get_vault)]
SubjectId = Annotated[str, Path(min_length=1, max_length=256, description=(
    "The host application's subject id (percent-encode it; `/` may stay as is)."))]
StaffDep = Annotated[Actor, Depends(staff)]

def _req(r: requests.Request) -> RequestOut:
    return RequestOut.model_validate(r, from_attributes=True)


@router.post(
    "/subjects/{subject_id:subject}/access-export",
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


@router.post("/subjects/{subject_id:subject}/rectifications", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut, operation_id="rectifyRecord")
def rectify(subject_id: SubjectId, body: RectifyIn, vault: VaultDep, actor: StaffDep) -> RequestOut:
    """Correct fields of one of the subject's records (Art. 16); the old value is not kept."""
    return _req(rights.rectify(vault, subject_id, body.record_id, body.data,
                               verified_by=body.verified_by, request_id=body.request_id,
                               actor=actor))


@router.post("/subjects/{subject_id:subject}/restriction", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut, operation_id="restrictProcessing")
def restrict(subject_id: SubjectId, body: RestrictIn, vault: VaultDep,
             actor: StaffDep) -> RequestOut:
    """Restrict processing (Art. 18), or lift a restriction with `lift: true`."""
    fn = rights.lift_restriction if body.lift else rights.restrict
    return _req(fn(vault, subject_id, verified_by=body.verified_by, request_id=body.request_id,
                   actor=actor))


@router.post("/subjects/{subject_id:subject}/objections", status_code=status.HTTP_201_CREATED,
             response_model=RequestOut, operation_id="objectToPurpose")
def object_to(subject_id: SubjectId, body: ObjectIn, vault: VaultDep,
              actor: StaffDep) -> RequestOut:
    """Object to a purpose (Art. 21): it stops at once for this subject."""
    return _req(rights.object_to(vault, subject_id, body.purpose, verified_by=body.verified_by,
                                 request_id=body.request_id, actor=actor))


@router.post("/subjects/{subject_id:subject}/erasure", response_model=ErasureOut,
             operation_id="eraseSubject")
def erase(subject_id: SubjectId, body: ErasureIn, vault: VaultDep, actor: StaffDep) -> ErasureOut:
    """Erase the subject (Art. 17): the data key is destroyed first; resumable, idempotent."""
    e = rights.erase(vault, subject_id, verified_by=body.verified_by,
                     request_id=body.request_id, actor=actor)
    return ErasureOut(request=_req(e.request), records=e.records, kept=e.kept,
                      notice_id=e.notice_id, resumed=e.resumed)


@router.post("/subjects/{subject_id:subject}/references", status_code=status.HTTP_201_CREATED,
             response_model=ReferenceOut, operation_id="registerReference")
def register_reference(subject_id: SubjectId, body: ReferenceIn, vault: VaultDep,
                       actor: StaffDep) -> ReferenceOut:
    """Record that a downstream system of yours (a cache, a CRM) holds data about the subject
    under its own opaque reference: the subject's erasure notice in the feed then names it, so
    that system drops exactly that key without learning who was erased. Idempotent."""
    r = downstream.register_reference(vault, subject_id, body.system, body.reference,
                                      actor=actor)
    return ReferenceOut(system=r.system, reference=r.reference, created=r.created)


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
    nxt = pagination.next_page(request, response, notices, limit, "erasure-feed",
                               lambda n: (n.id,))
    return ErasureNoticePage(items=[NoticeOut(id=n.id, at=n.at, references=n.references)
                                    for n in notices], next=nxt, last_id=last)


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
    nxt = pagination.next_page(request, response, rows, limit, "requests",
                               lambda r: (r.due_at, r.id))
    return RequestPage(items=[_req(r) for r in rows], next=nxt)
