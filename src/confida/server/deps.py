"""Per-request plumbing: the vault, the caller's credential, the stated purpose.

Authentication is delegated to the core (``credential``, ``oidc``, ``subject_token``); this module
only picks the verifier by the token's shape, applies the per-credential rate limit, and makes
sure a refusal is written to the audit log like any other decision.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from confida import credential, credential_kind, oidc, subject_token
from confida.config import Config
from confida.errors import AccessDenied, ConfidaError, PurposeRequired, Unauthenticated
from confida.operation import Actor
from confida.readiness import BackgroundJob, ReadinessProbe
from confida.server.security import RateLimiter, client_host
from confida.vault import Vault

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`cfk_...`), an OIDC access token (JWT), or, for `/v1/me`, a "
    "subject token (`cst_...`).",
)
MAX_TOKEN_CHARS = 8192
ANONYMOUS = Actor(id="anonymous", role=None, source="api")


class ServerContext:
    """What the app holds for its lifetime: one vault, the OIDC verifier, the limiters, the
    background jobs and the readiness probe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._vault: Vault | None = None
        self._oidc: oidc.OidcVerifier | None = None
        self._lock = threading.Lock()
        # Background jobs the server runs (``run_server`` adds periodic retention); /ready
        # reports each one's health.
        self.jobs: list[BackgroundJob] = []
        self.readiness = ReadinessProbe(config, lambda: tuple(self.jobs))
        api = config.api
        self.limiter = RateLimiter(api.rate_per_second, api.rate_burst)
        # failed authentications per client address: slows down guessing, costs callers nothing
        self.auth_failures = RateLimiter(max(1.0, api.rate_per_second / 10), 20)

    def vault(self) -> Vault:
        if self._vault is None:
            with self._lock:
                if self._vault is None:
                    self._vault = Vault.open(self.config)  # its audit sink is the Merkle log
        return self._vault

    def verifier(self) -> oidc.OidcVerifier:
        if self._oidc is None:
            with self._lock:
                if self._oidc is None:
                    self._oidc = oidc.OidcVerifier(self.config.oidc, self.config.data_dir)
        return self._oidc

    def close(self) -> None:
        if self._vault is not None:
            self._vault.close()
            self._vault = None


# The light dependencies are ``async``: FastAPI runs a plain ``def`` dependency in the thread
# pool, and each such hop cost more than the dependency itself (a read had five of them).
async def context(request: Request) -> ServerContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


async def get_vault(ctx: Annotated[ServerContext, Depends(context)]) -> Vault:
    return ctx.vault()


def refuse(vault: Vault, action: str, exc: ConfidaError, actor: Actor = ANONYMOUS) -> None:
    """Record a refusal made before any core operation started (in the core), then raise it."""
    credential.refuse(vault, action, exc, actor)


@dataclass(frozen=True)
class Caller:
    actor: Actor
    subject_id: str | None = None  # set for subject tokens only


def _authenticate(request: Request, ctx: ServerContext,
                  creds: HTTPAuthorizationCredentials | None) -> Caller:
    vault = ctx.vault()
    try:
        if creds is None or not creds.credentials:
            raise Unauthenticated("a bearer credential is required")
        token = creds.credentials
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("malformed credential")
        if credential.looks_like_key(token):
            caller = Caller(credential.authenticate(vault, token))
        elif subject_token.looks_like_token(token):
            claims = subject_token.verify(vault, token, use=subject_token.API)
            caller = Caller(subject_token.actor_for(claims), claims.subject_id)
        elif oidc.looks_like_jwt(token) and ctx.config.oidc.enabled:
            caller = Caller(ctx.verifier().authenticate(token, set(vault.register.roles)))
        else:
            raise Unauthenticated("unrecognised credential")
    except Unauthenticated as exc:
        ctx.auth_failures.take("ip:" + client_host(request.scope))
        refuse(vault, "auth.authenticate", exc)
        raise
    except AccessDenied as exc:
        refuse(vault, "auth.authenticate", exc)
        raise
    ctx.limiter.take(caller.actor.id)
    return caller


def staff(
    request: Request,
    ctx: Annotated[ServerContext, Depends(context)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """A service or staff credential (API key or OIDC token); subject tokens are refused."""
    caller = _authenticate(request, ctx, creds)
    return credential_kind.require_staff(ctx.vault(), caller.actor, caller.subject_id)


def subject(
    request: Request,
    ctx: Annotated[ServerContext, Depends(context)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """A subject token: the person acting on their own data."""
    caller = _authenticate(request, ctx, creds)
    credential_kind.require_subject(ctx.vault(), caller.actor, caller.subject_id)
    return caller


PURPOSE_HEADER = "Confida-Purpose"


async def purpose(
    confida_purpose: Annotated[
        str | None,
        Header(
            alias=PURPOSE_HEADER,
            description="Why you read this personal data: a purpose declared in the register. "
            "Required; a purpose your role may not use, or that the subject has not consented "
            "to or objected to, is refused.",
            max_length=64,
        ),
    ] = None,
) -> str:
    if not confida_purpose:
        raise PurposeRequired(f"state the purpose of this read in the {PURPOSE_HEADER} header")
    return confida_purpose


async def no_unknown_query(request: Request) -> None:
    """Refuse query parameters the operation does not declare (deny by default: a misspelt
    filter must not silently widen a result)."""
    if not request.query_params:
        return
    from fastapi.routing import APIRoute

    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known: set[str] = set()
    stack = [route.dependant]
    while stack:
        d = stack.pop()
        known.update(p.alias for p in d.query_params)
        stack.extend(d.dependencies)
    unknown = [k for k in request.query_params if k not in known]
    if unknown:
        from confida.errors import BadInput

        raise BadInput(f"unknown query parameter(s): {len(unknown)}; this operation takes: "
                       f"{', '.join(sorted(known)) or 'none'}")
