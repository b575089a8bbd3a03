"""Audit log endpoints: the latest signed checkpoint and inclusion / consistency proofs.

The latest checkpoint is served as the signed note itself (``text/plain``) for external
witnesses, who keep every note they fetch: ``confida audit verify --checkpoint`` then proves the
log still extends them, so a log shortened or rewritten in the database is caught.

They let an auditor outside the installation check, with nothing but the public key, that an
entry is in the log and that the log only ever grew. Reading them is itself an audited action
(role action ``audit``). Entries themselves are not served: they name subjects by pseudonym,
which the DPO reads through ``confida audit`` on the host.

The log is the vault's own audit sink (``confida.audit.sink``), in the record store.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from confida.audit import AuditLog, ProofError
from confida.authz import authorise
from confida.errors import BadInput, NotFound
from confida.operation import Actor, Operation
from confida.server.deps import get_vault, no_unknown_query, staff
from confida.vault import Vault

router = APIRouter(prefix="/v1/audit", tags=["audit"],
                   dependencies=[Depends(no_unknown_query)])


def audit_log(vault: Vault) -> AuditLog:
    """The vault's log (its sink's), or one over the same tables for a vault opened with
    another sink (tests)."""
    log = getattr(vault.audit, "log", None)
    if isinstance(log, AuditLog):
        return log
    from confida.audit.sink import audit_log as sink_log

    return sink_log(vault.config)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


class CheckpointOut(BaseModel):
    tree_size: int
    note: str
    created_at: datetime


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


VaultDep = Annotated[Vault, Depends(get_vault)]
StaffDep = Annotated[Actor, Depends(staff)]
Size = Annotated[int, Query(ge=0, le=2**62)]


def _run(vault: Vault, actor: Actor, action: str, fn: Any) -> Any:
    log = audit_log(vault)
    with vault.operation(Operation(action, actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        try:
            return fn(conn, log, op)
        except (ProofError, KeyError) as exc:
            raise BadInput(f"no such proof: {exc}") from None


def _wants_json(request: Request) -> bool:
    """JSON only when the client lists ``application/json`` before (or without) ``text/plain``."""
    accept = request.headers.get("accept", "").lower()
    j, t = accept.find("application/json"), accept.find("text/plain")
    return j >= 0 and (t < 0 or j < t)


@router.get(
    "/checkpoints/latest",
    response_class=PlainTextResponse,
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

    def fn(conn: Any, log: AuditLog, op: Operation) -> tuple[int, str, datetime]:
        cp = log.latest_checkpoint(conn)
        if cp is None:
            raise NotFound("no checkpoint has been signed yet")
        op.details["tree_size"] = cp[0]
        return cp

    size, note, created = _run(vault, actor, "audit.checkpoint", fn)
    headers = {"Cache-Control": "no-store"}
    if _wants_json(request):
        if created.tzinfo is None:  # SQLite returns the log's UTC times without an offset
            created = created.replace(tzinfo=UTC)
        body = CheckpointOut(tree_size=size, note=note, created_at=created)
        return JSONResponse(body.model_dump(mode="json"), headers=headers)
    return PlainTextResponse(note, headers=headers)


@router.get("/proofs/inclusion", response_model=InclusionOut)
def inclusion(vault: VaultDep, actor: StaffDep, index: Size, tree_size: Size) -> InclusionOut:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries."""

    def fn(conn: Any, log: AuditLog, op: Operation) -> InclusionOut:
        if index >= tree_size:
            raise ProofError("index must be below tree_size")
        proof = log.inclusion_proof(conn, index, tree_size)
        op.details.update({"index": index, "tree_size": tree_size})
        return InclusionOut(index=index, tree_size=tree_size,
                            leaf_hash=_b64(log.leaf_hash(conn, index)),
                            root=_b64(log.root(conn, tree_size)),
                            proof=[_b64(p) for p in proof])

    return _run(vault, actor, "audit.proof", fn)  # type: ignore[no-any-return]


@router.get("/proofs/consistency", response_model=ConsistencyOut)
def consistency(vault: VaultDep, actor: StaffDep, first: Size, second: Size) -> ConsistencyOut:
    """RFC 9162 consistency proof that the tree at ``second`` extends the tree at ``first``."""

    def fn(conn: Any, log: AuditLog, op: Operation) -> ConsistencyOut:
        if not 0 < first <= second:
            raise ProofError("need 0 < first <= second")
        proof = log.consistency_proof(conn, first, second)
        op.details.update({"first": first, "second": second})
        return ConsistencyOut(first=first, second=second, first_root=_b64(log.root(conn, first)),
                              second_root=_b64(log.root(conn, second)),
                              proof=[_b64(p) for p in proof])

    return _run(vault, actor, "audit.proof", fn)  # type: ignore[no-any-return]
