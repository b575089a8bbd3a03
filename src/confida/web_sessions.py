"""Web sessions of the privacy center and the console, held on the server.

The browser's cookie is sealed, but it only names a row here: a session is live while its row
exists, has not ended and has not expired. So signing out, the person's erasure, or revoking the
staff API key a console session was opened with ends the session at once, whatever copy of the
cookie a browser (or anyone who took it) still holds.

A privacy-center session is opened with a single-use ``link`` subject token: its id is recorded
in the transaction that creates the session, so a second use of the same link is refused.

Cookies are sealed under versioned system keys ``web-session-v{N}``. The newest version seals
new sessions; it is replaced when older than :data:`KEY_MAX_AGE` (checked when a session opens)
or by :func:`rotate_session_key`. Cookies sealed under the version before it stay valid until
they expire; anything older is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from confida import subject as subjects
from confida import subject_token
from confida.authz import Resource, authorise
from confida.errors import NotFound, SubjectErased, Unauthenticated
from confida.operation import Actor, Operation, subject_actor, system_actor
from confida.store.schema import api_key, subject_token_use, web_session, web_session_key
from confida.vault import Vault

SUBJECT, STAFF = "subject", "staff"
SUBJECT_TTL = timedelta(minutes=15)
STAFF_TTL = timedelta(minutes=30)
KEY_NAME = "web-session"
KEY_MAX_AGE = timedelta(days=1)
#: The action whose grant opens (and so may close) a session of each kind.
_ACTION = {SUBJECT: "list", STAFF: "requests"}


@dataclass(frozen=True)
class WebSession:
    sid: str
    kind: str
    actor_id: str
    subject_id: str | None
    expires_at: datetime
    key_version: int


def _row(r: object) -> WebSession:
    return WebSession(r.sid, r.kind, r.actor_id, r.subject_id,  # type: ignore[attr-defined]
                      r.expires_at, r.key_version)  # type: ignore[attr-defined]


# --- the cookie key ------------------------------------------------------------------------


def cookie_key(vault: Vault, version: int) -> bytes:
    """The system key that seals cookies of ``version``."""
    return vault.system_key(f"{KEY_NAME}-v{version}")


def key_versions(vault: Vault) -> tuple[int, ...]:
    """The versions whose cookies are accepted: the newest first, then the one before it."""
    with vault.engine.connect() as conn:
        newest = conn.execute(select(func.max(web_session_key.c.version))).scalar()
    if newest is None:
        return ()
    return (newest, newest - 1) if newest > 1 else (newest,)


def rotate_session_key(vault: Vault, *, actor: Actor) -> int:
    """Start a new cookie key version (role needs ``keys``; audited); returns it.

    Sessions sealed under the previous version keep working until they expire; the version
    before that is refused from now on.
    """
    with vault.operation(Operation("web_session.key.rotate", actor)) as (conn, op):
        authorise(actor, "keys", register=vault.register, op=op)
        newest = conn.execute(select(func.max(web_session_key.c.version))).scalar() or 0
        version = newest + 1
        conn.execute(insert(web_session_key).values(version=version, created_at=vault.clock()))
        op.object_ids.append(f"system-key:{KEY_NAME}-v{version}")
    cookie_key(vault, version)  # create it now, not on the first request that needs it
    return version


def current_key_version(vault: Vault) -> int:
    """The version new sessions are sealed under; rotated first when missing or too old."""
    with vault.engine.connect() as conn:
        row = conn.execute(
            select(web_session_key).order_by(web_session_key.c.version.desc()).limit(1)
        ).first()
    if row is not None and vault.clock() - row.created_at < KEY_MAX_AGE:
        return int(row.version)
    try:
        return rotate_session_key(vault, actor=system_actor("keys"))
    except IntegrityError:  # another process rotated at the same moment: use its version
        return key_versions(vault)[0]


# --- opening, resuming and ending sessions --------------------------------------------------


def _new(conn: Connection, vault: Vault, sid: str, kind: str, actor_id: str,
         subject_id: str | None, expires_at: datetime, version: int) -> WebSession:
    conn.execute(insert(web_session).values(
        sid=sid, kind=kind, subject_id=subject_id, actor_id=actor_id, created_at=vault.clock(),
        expires_at=expires_at, ended_at=None, key_version=version,
    ))
    return WebSession(sid, kind, actor_id, subject_id, expires_at, version)


def enter_privacy_center(vault: Vault, token: str) -> WebSession:
    """Exchange a single-use ``link`` subject token for a privacy-center session.

    Raises :class:`Unauthenticated` for a malformed, forged, expired, foreign or already used
    link; :class:`SubjectErased` when the person's data is gone. Every attempt is audited.
    """
    version = current_key_version(vault)
    sid = secrets.token_hex(16)
    anonymous = Actor(id="privacy-center:link", role=None, source="web")
    try:
        with vault.operation(Operation("privacy_center.enter", anonymous)) as (conn, op):
            claims = subject_token.verify(vault, token, use=subject_token.LINK)
            actor = subject_actor(claims.subject_id, sid)
            op.actor = actor
            op.object_ids.append(f"subject_token:{claims.token_id}")
            authorise(actor, _ACTION[SUBJECT], Resource(subject_id=claims.subject_id),
                      register=vault.register, op=op)
            # a used link says nothing more, not even whether the person was erased since
            used = conn.execute(select(subject_token_use.c.jti).where(
                subject_token_use.c.jti == claims.token_id)).first()
            if used is not None:
                raise Unauthenticated("this privacy-center link was already used")
            s = subjects.by_id(conn, claims.subject_id)
            op.subject_pseudonyms.append(s.pseudonym)
            if s.status in (subjects.ERASED, subjects.ERASING):
                raise SubjectErased("this subject's data has been erased")
            conn.execute(insert(subject_token_use).values(
                jti=claims.token_id, used_at=vault.clock(), expires_at=claims.expires_at))
            return _new(conn, vault, sid, SUBJECT, actor.id, s.id, vault.clock() + SUBJECT_TTL,
                        version)
    except IntegrityError:  # the same link redeemed concurrently: one of the two wins
        raise Unauthenticated("this privacy-center link was already used") from None


def open_console(vault: Vault, actor: Actor, *, not_after: datetime | None = None) -> WebSession:
    """A console session for an authenticated staff actor whose role may handle requests.

    It ends no later than ``not_after`` (an OIDC token's expiry) or the API key's own expiry.
    """
    with vault.operation(Operation("console.sign_in", actor)) as (conn, op):
        authorise(actor, _ACTION[STAFF], register=vault.register, op=op)
        version = _version_for_sign_in(vault, conn, op)
        sid = secrets.token_hex(16)
        expires = vault.clock() + STAFF_TTL
        if not_after is not None:
            expires = min(expires, not_after)
        if actor.id.startswith("apikey:"):
            key_exp = conn.execute(select(api_key.c.expires_at).where(
                api_key.c.id == actor.id.removeprefix("apikey:"))).scalar()
            if key_exp is not None:
                expires = min(expires, key_exp)
        op.object_ids.append(f"web_session:{sid}")
        session = _new(conn, vault, sid, STAFF, actor.id, None, expires, version)
    cookie_key(vault, version)  # created now if the sign-in started a new version
    return session


def _version_for_sign_in(vault: Vault, conn: Connection, op: Operation) -> int:
    """As :func:`current_key_version`, in the sign-in's own transaction (a rotation of its own
    would wait for the lock the sign-in holds): a new version it starts is named in its entry."""
    row = conn.execute(
        select(web_session_key).order_by(web_session_key.c.version.desc()).limit(1)
    ).first()
    if row is not None and vault.clock() - row.created_at < KEY_MAX_AGE:
        return int(row.version)
    version = (int(row.version) if row is not None else 0) + 1
    try:
        with conn.begin_nested():
            conn.execute(insert(web_session_key).values(version=version,
                                                        created_at=vault.clock()))
    except IntegrityError:  # another process rotated at the same moment: use its version
        return int(conn.execute(select(func.max(web_session_key.c.version))).scalar())
    op.object_ids.append(f"system-key:{KEY_NAME}-v{version}")
    return version


def resume(vault: Vault, sid: str, kind: str, key_version: int) -> WebSession | None:
    """The live session ``sid`` of ``kind`` sealed under ``key_version``, else None."""
    if key_version not in key_versions(vault):
        return None
    with vault.engine.connect() as conn:
        row = conn.execute(select(web_session).where(web_session.c.sid == sid)).first()
    if (row is None or row.ended_at is not None or row.kind != kind
            or row.key_version != key_version or row.expires_at <= vault.clock()):
        return None
    return _row(row)


def actor_of(s: WebSession, role: str | None = None) -> Actor:
    """Who acts in a session: the person themself, or the staff member with their role."""
    if s.kind == SUBJECT:
        assert s.subject_id is not None
        return subject_actor(s.subject_id, s.sid)
    return Actor(id=s.actor_id, role=role, source="web")


def sign_out(vault: Vault, s: WebSession, *, actor: Actor) -> None:
    """End the session server-side (audited); a replayed cookie finds it ended."""
    with vault.operation(Operation("web_session.end", actor)) as (conn, op):
        authorise(actor, _ACTION[s.kind], Resource(subject_id=s.subject_id),
                  register=vault.register, op=op)
        if actor.id != s.actor_id:
            raise Unauthenticated("not this session's holder")
        op.object_ids.append(f"web_session:{s.sid}")
        conn.execute(update(web_session).where(web_session.c.sid == s.sid,
                                               web_session.c.ended_at.is_(None))
                     .values(ended_at=vault.clock()))


def end_for_subject(conn: Connection, subject_id: str, at: datetime | None = None) -> int:
    """End every live session of a subject (their erasure); in the caller's transaction."""
    return _end(conn, web_session.c.subject_id == subject_id, at)


def end_for_actor(conn: Connection, actor_id: str, at: datetime | None = None) -> int:
    """End every live console session of a staff actor (their API key was revoked)."""
    return _end(conn, web_session.c.actor_id == actor_id, at)


def _end(conn: Connection, where: object, at: datetime | None) -> int:
    res = conn.execute(update(web_session).where(where, web_session.c.ended_at.is_(None))  # type: ignore[arg-type]
                       .values(ended_at=at or datetime.now(UTC)))
    return int(res.rowcount or 0)


def subject_erased(vault: Vault, *, actor: Actor) -> bool:
    """Whether the person a privacy-center session acts for is erased or being erased: the
    pages then show nothing. A subject with no row left counts as erased."""
    with vault.operation(Operation("subject.status", actor)) as (conn, op):
        authorise(actor, "read", Resource(subject_id=actor.subject_id), register=vault.register,
                  op=op)
        try:
            s = subjects.by_id(conn, actor.subject_id or "")
        except NotFound:
            return True
    return s.status in (subjects.ERASED, subjects.ERASING)
