"""Bearer JWTs from an OpenID Connect issuer, for staff who sign in through the company's IdP.

Verification uses PyJWT: the signature against the issuer's JWKS (from a file, or fetched from
``jwks_url`` and cached), and the ``iss``, ``aud``, ``exp`` (and ``nbf``/``iat`` when present)
claims. Only asymmetric algorithms are accepted: ``none`` and HMAC algorithms are refused before
any key is looked at, which closes the classic "alg confusion" attacks. The Confida role comes
from a configured claim; the actor id is a hash of issuer and subject so that audit entries name
no person (an IdP ``sub`` is often an e-mail address).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKSet

from confida.config import OidcSettings
from confida.errors import AccessDenied, KeyUnavailable, Unauthenticated
from confida.operation import Actor

_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
               "EdDSA"}


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class OidcVerifier:
    """Verifies tokens for one configured issuer."""

    def __init__(self, settings: OidcSettings, base_dir: Path | None = None) -> None:
        if not settings.enabled:
            raise KeyUnavailable("OIDC is not configured ([oidc] issuer)")
        if not settings.audience:
            raise KeyUnavailable("[oidc] audience must be set: tokens for other apps are refused")
        algs = [a for a in settings.algorithms if a in _ASYMMETRIC]
        if not algs:
            raise KeyUnavailable("[oidc] algorithms must name asymmetric algorithms")
        self.settings = settings
        self.algorithms = algs
        self._client: PyJWKClient | None = None
        self._keyset: PyJWKSet | None = None
        if settings.jwks_file:
            path = Path(settings.jwks_file)
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            try:
                self._keyset = PyJWKSet.from_json(path.read_text("utf-8"))
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise KeyUnavailable(f"[oidc] jwks_file {path}: {type(exc).__name__}") from None
        elif settings.jwks_url:
            if not settings.jwks_url.startswith("https://"):
                raise KeyUnavailable("[oidc] jwks_url must be https://")
            self._client = PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300,
                                       timeout=5)
        else:
            raise KeyUnavailable("[oidc] needs jwks_file or jwks_url")

    def _key(self, token: str) -> Any:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthenticated("token algorithm not accepted")
        kid = header.get("kid")
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError:
                raise KeyUnavailable("the identity provider's keys cannot be fetched") from None
        assert self._keyset is not None
        keys = [k for k in self._keyset.keys if kid is None or k.key_id == kid]
        if len(keys) != 1:
            raise Unauthenticated("no matching signing key")
        return keys[0].key

    def authenticate(self, token: str, roles: set[str] | None = None) -> Actor:
        try:
            key = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise Unauthenticated("token not issued for this service") from None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, json.JSONDecodeError):
            raise Unauthenticated("invalid token") from None
        role = claims.get(self.settings.role_claim)
        if isinstance(role, list):
            known = [r for r in role if isinstance(r, str) and (roles is None or r in roles)]
            role = known[0] if len(known) == 1 else None
        if not isinstance(role, str) or (roles is not None and role not in roles):
            raise AccessDenied("the token carries no role this register declares")
        who = hashlib.sha256(f"{claims['iss']}\x00{claims['sub']}".encode()).hexdigest()[:24]
        return Actor(id=f"oidc:{who}", role=role, source="api")
