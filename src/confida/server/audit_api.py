"""Audit log endpoints: the latest signed checkpoint and inclusion / consistency proofs.

The latest checkpoint is served as the signed note itself (``text/plain``) for external
witnesses, who keep every note they fetch: ``confida audit verify --checkpoint`` then proves the
log still extends them, so a log shortened or rewritten in the database is caught.

They let an auditor outside the installation check, with nothing but the public key, that an
entry is in the log and that the log only ever grew. Reading them is itself an audited action
(role action ``audit``). Entries themselves are not served: they name subjects by pseudonym,
which the DPO reads through ``confida audit`` on the host.

The reads, and the decision whether the caller may make them, are ``confida.audit.reads``.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from confida.api_models import CheckpointOut, ConsistencyOut, InclusionOut
from confida.audit import reads
from confida.operation import Actor
from confida.server.deps import get_vault, no_unknown_query, staff
from confida.vault import Vault

router = APIRouter(prefix="/v1/audit", tags=["audit"],
                   dependencies=[Depends(no_unknown_query)])


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


VaultDep = Annotated[Vault, Depends(get_vault)]
StaffDep = Annotated[Actor, Depends(staff)]
Size = Annotated[int, Query(ge=0, le=2**62)]


def _wants_json(request: Request) -> bool:
    """JSON only when the client lists ``application/json`` before (or without) ``text/plain``."""
    accept = request.headers.get("accept", "").lower()
    j, t = accept.find("application/json"), accept.find("text/plain")
    return j >= 0 and (t < 0 or j < t)


@router.get(
    "/checkpoints/latest",
    response_class=PlainTextResponse,
    operation_id="getLatestCheckpoint",
    responses={200: {
        "description": "The signed note (text/plain), or with `Accept: application/json` the "
        "note with its tree size and signing time.",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": CheckpointOut.model_json_schema()},
        },
    }},
)
def latest_checkpoint(request: Request, vault: VaultDep, actor: StaffDep) -> Response:
    """The newest signed checkpoint: a C2SP signed note over the tree size and root.

    Served as the note itself (``text/plain``) so that external witnesses can keep it verbatim
    and check it with nothing but the audit public key; ``confida audit verify --checkpoint``
    takes such notes back.
    """
    size, note, created = reads.latest_checkpoint(vault, actor=actor)
    headers = {"Cache-Control": "no-store"}
    if _wants_json(request):
        body = CheckpointOut(tree_size=size, note=note, created_at=created)
        return JSONResponse(body.model_dump(mode="json"), headers=headers)
    return PlainTextResponse(note, headers=headers)


@router.get("/proofs/inclusion", response_model=InclusionOut, operation_id="getInclusionProof")
def inclusion(vault: VaultDep, actor: StaffDep, index: Size, tree_size: Size) -> InclusionOut:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries."""
    p = reads.inclusion_proof(vault, index, tree_size, actor=actor)
    return InclusionOut(index=p.index, tree_size=p.tree_size, leaf_hash=_b64(p.leaf_hash),
                        root=_b64(p.root), proof=[_b64(x) for x in p.proof])


@router.get("/proofs/consistency", response_model=ConsistencyOut,
            operation_id="getConsistencyProof")
def consistency(vault: VaultDep, actor: StaffDep, first: Size, second: Size) -> ConsistencyOut:
    """RFC 9162 consistency proof that the tree at ``second`` extends the tree at ``first``."""
    p = reads.consistency_proof(vault, first, second, actor=actor)
    return ConsistencyOut(first=p.first, second=p.second, first_root=_b64(p.first_root),
                          second_root=_b64(p.second_root), proof=[_b64(x) for x in p.proof])
