"""A chat backend that keeps what it knows about its users in Confida: a FastAPI example.

Copy this file and adapt it. It shows the four things a host application does with Confida:

1. **store** every chat message through Confida (``collect``: minimised, scanned for personal
   data, encrypted under the user's key, kept for the purpose's retention) and keep only its
   own working copy (here: an in-memory index of conversations; in a real app a cache, a
   search index, its own database);
2. **ask for consent** to use conversations for model training, and show whether it is given
   (the consent ledger is Confida's; the app never keeps its own yes/no);
3. **link to the privacy center**, where the person sees, exports and deletes their data;
4. **honour erasures**: poll the erasure feed (and take the signed ``erasure`` webhook as a
   signal to poll at once) and drop the local copy of every erased user.

Configuration (environment variables):

=============================  ===========================================================
``CONFIDA_URL``                Confida's base URL, e.g. ``https://127.0.0.1:8443`` (required)
``CONFIDA_API_KEY``            an API key of a role that may ``collect``, ``read``,
                               ``consent`` and ``rights`` (the sample register's
                               ``service``): ``confida apikey create --role service``
``CONFIDA_CA``                 the CA file that signs Confida's certificate (``confida init``
                               makes a self-signed ``tls/cert.pem``); unset: system CAs
``CONFIDA_WEBHOOK_SECRET``     the ``whsec_...`` secret of ``confida webhooks add URL
                               --events erasure``; unset: ``POST /webhooks/confida`` is 404
``CHAT_FEED_POLL_SECONDS``     how often the erasure feed is polled (default 30; 0: never,
                               only ``POST /erasure-feed/sync`` and the webhook)
``CHAT_SYSTEM``                this app's name in erasure notices (default ``chat-app``)
=============================  ===========================================================

The user is named by an ``X-User`` header: a stand-in for the app's own login. Never take a
user id from a header in production.

Run: ``uvicorn --factory examples.fastapi_chat.app:create_app`` (README.md in this folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from confida.client import AsyncClient
from confida.errors import (
    ConfidaError,
    ConsentRequired,
    InvalidRecord,
    NotFound,
    SubjectErased,
    SubjectRestricted,
)

log = logging.getLogger("chat")

# What the app stores, as the register (examples/chat-assistant.yaml) declares it.
KIND = "conversation_message"  # fields: conversation_id, role, text, model, created_at
PURPOSE = "service"  # contract: providing the chat service
TRAINING = "model_training"  # consent: using conversations to improve the models

#: Confida errors the app's own callers may see, with the same status; anything else (a bad
#: API key, a role without the right, Confida unreachable) is the app's problem: 502.
USER_FACING = (NotFound, SubjectErased, SubjectRestricted, ConsentRequired, InvalidRecord)

#: ``(user, reference)`` -> None: tells Confida which reference this app uses for a user, so
#: that the user's erasure notice names it. See ``register_reference`` in create_app.
Registrar = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class Settings:
    confida_url: str
    api_key: str
    ca: str | None = None
    webhook_secret: str | None = None
    poll_seconds: float = 30.0
    system: str = "chat-app"
    # record each user's reference with Confida (POST /v1/subjects/{id}/references), so that
    # an erasure notice names it; off, the app checks its users against Confida instead
    register_references: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        try:
            url, key = os.environ["CONFIDA_URL"], os.environ["CONFIDA_API_KEY"]
        except KeyError as missing:
            raise RuntimeError(f"set {missing.args[0]} (see examples/fastapi_chat/README.md)"
                               ) from None
        return cls(url, key, ca=os.environ.get("CONFIDA_CA") or None,
                   webhook_secret=os.environ.get("CONFIDA_WEBHOOK_SECRET") or None,
                   poll_seconds=float(os.environ.get("CHAT_FEED_POLL_SECONDS", "30")),
                   system=os.environ.get("CHAT_SYSTEM", "chat-app"),
                   register_references=os.environ.get("CHAT_REGISTER_REFERENCES", "1") != "0")


# --- the app's own copy of conversations ------------------------------------------------------


@dataclass
class LocalMessage:
    seq: int  # local insertion order
    record_id: str  # the message's record in Confida
    conversation_id: str
    role: str
    text: str
    at: datetime


@dataclass
class LocalUser:
    reference: str  # the opaque id this app gives Confida for the user: never the user id
    registered: bool  # whether Confida knows the reference (then notices name the user)
    messages: list[LocalMessage] = field(default_factory=list)


class LocalIndex:
    """The working copy: users and their messages, in memory. It never outlives Confida's copy:
    :func:`sync_erasures` drops what Confida has erased."""

    def __init__(self) -> None:
        self.users: dict[str, LocalUser] = {}
        self.by_reference: dict[str, str] = {}
        self.feed_cursor = 0  # the last erasure notice processed (a real app persists it)
        self._seq = 0

    def add(self, user: str, msg: LocalMessage) -> None:
        self.users[user].messages.append(msg)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def messages(self, user: str) -> list[LocalMessage]:
        u = self.users.get(user)
        return list(u.messages) if u else []

    def drop(self, user: str, keep: Callable[[LocalMessage], bool] = lambda m: False) -> int:
        """Drop ``user``'s messages that ``keep`` refuses, and the user once none is left."""
        u = self.users.get(user)
        if u is None:
            return 0
        before = len(u.messages)
        u.messages = [m for m in u.messages if keep(m)]
        if not u.messages:
            del self.users[user]
            self.by_reference.pop(u.reference, None)
        return before - len(u.messages)


# --- erasures: the feed, and the webhook that says "poll now" ---------------------------------


@dataclass
class SyncResult:
    notices: int = 0
    cursor: int = 0
    by_reference: int = 0  # users dropped because a notice named this app's reference
    by_check: int = 0  # users dropped because Confida no longer holds their messages
    messages_dropped: int = 0


async def sync_erasures(state: ChatState) -> SyncResult:
    """Process the erasure notices after the cursor; drop the local copy of erased users.

    A notice names only references (``{"system", "reference"}``), never a person. References of
    this app's system are dropped directly. Users whose reference Confida does not know (no
    registrar, see ``create_app``) cannot be named by a notice, so after any new notice each of
    them is checked against Confida (:func:`_reconcile`). The cursor moves only once the batch
    is done: a crash re-runs it, and every step is idempotent.
    """
    async with state.sync_lock:
        index, result = state.index, SyncResult(cursor=state.index.feed_cursor)
        notices = [n async for n in state.client.erasure_notices(since=index.feed_cursor)]
        if not notices:
            return result
        for notice in notices:
            for ref in notice.references:
                if ref["system"] != state.settings.system:
                    continue  # another system's reference (a training dataset, a processor)
                user = index.by_reference.get(ref["reference"])
                if user is not None:  # everything of theirs goes, also anything written since
                    result.messages_dropped += index.drop(user)
                    result.by_reference += 1
        result.by_check, msgs = await _reconcile(state)
        result.messages_dropped += msgs
        index.feed_cursor = result.cursor = notices[-1].id
        result.notices = len(notices)
        log.info("erasure feed: %d notice(s), %d user(s) dropped", result.notices,
                 result.by_reference + result.by_check)
        return result


async def _reconcile(state: ChatState) -> tuple[int, int]:
    """For each user Confida holds no reference of: keep a local message only while Confida
    still holds its record. The record ids Confida lists (metadata only) drop what was erased
    or expired; then one read of the newest survivor catches an erasure still in progress (its
    records are listed until deleted, but reading one is refused at once). Two calls per such
    user and batch of notices: fine for a demo; a registrar makes it unnecessary."""
    index, users, msgs = state.index, 0, 0
    mark = index.next_seq()  # messages stored from now on are kept

    def stored_later(m: LocalMessage) -> bool:
        return m.seq > mark

    for user in [u for u, v in index.users.items() if not v.registered]:
        live = {r.id async for r in state.client.list_records(user, PURPOSE, kind=KIND)}
        msgs += index.drop(user, lambda m, live=live: stored_later(m) or m.record_id in live)
        old = [m for m in index.messages(user) if not stored_later(m)]
        if old:
            try:
                await state.client.get(old[-1].record_id, PURPOSE)
            except (NotFound, SubjectErased):
                msgs += index.drop(user, stored_later)
        users += user not in index.users
    return users, msgs


async def _poll_forever(state: ChatState) -> None:
    while True:
        try:  # a failed poll is retried at the next tick
            await sync_erasures(state)
        except ConfidaError as exc:
            log.warning("erasure feed poll failed: %s", exc.code)
        except Exception:
            log.exception("erasure feed poll failed")
        await asyncio.sleep(state.settings.poll_seconds)


# --- the app ---------------------------------------------------------------------------------


@dataclass
class ChatState:
    settings: Settings
    client: AsyncClient
    index: LocalIndex
    register_reference: Registrar | None
    sync_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MessageIn(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=20_000)


class ConsentIn(BaseModel):
    granted: bool
    notice_version: str | None = Field(None, min_length=1, max_length=64,
                                       description="the privacy notice version the user saw")


def chat(request: Request) -> ChatState:
    return request.app.state.chat  # type: ignore[no-any-return]


def current_user(x_user: Annotated[str, Header(min_length=1, max_length=200)]) -> str:
    """Stand-in for the app's login: a real app takes the user from its session."""
    return x_user


State = Annotated[ChatState, Depends(chat)]
User = Annotated[str, Depends(current_user)]


def create_app(settings: Settings | None = None, *,
               register_reference: Registrar | None = None) -> FastAPI:
    """The chat app. ``settings`` default to the environment.

    ``register_reference(user, reference)`` is called once, when the app first sees a user,
    to record with Confida the reference this app uses for them: an erasure's notice then names
    it and the user is dropped without asking Confida about every user. By default it is the
    client's ``register_reference`` (``POST /v1/subjects/{id}/references``) under
    ``settings.system``; with ``register_references`` off there is none, and
    :func:`sync_erasures` checks each local user against Confida instead.
    """
    cfg = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        verify: bool | str = cfg.ca or True
        async with AsyncClient(cfg.confida_url, api_key=cfg.api_key, verify=verify) as client:
            registrar = register_reference
            if registrar is None and cfg.register_references:
                async def registrar(user: str, reference: str) -> None:
                    await client.register_reference(user, cfg.system, reference)
            state = ChatState(cfg, client, LocalIndex(), registrar)
            app.state.chat = state
            poller = (asyncio.create_task(_poll_forever(state))
                      if cfg.poll_seconds > 0 else None)
            try:
                yield
            finally:
                if poller is not None:
                    poller.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await poller

    app = FastAPI(title="Chat (Confida example)", lifespan=lifespan)

    @app.exception_handler(ConfidaError)
    async def confida_error(request: Request, exc: ConfidaError) -> JSONResponse:
        if isinstance(exc, USER_FACING):
            return JSONResponse({"error": exc.code}, status_code=exc.http_status)
        log.error("Confida refused or failed: %s", exc.code)  # a code, never a value
        return JSONResponse({"error": "privacy-vault-unavailable"}, status_code=502)

    async def first_seen(state: ChatState, user: str) -> None:
        if user in state.index.users:
            return
        reference = "u_" + secrets.token_hex(16)  # random: tells Confida nothing about the user
        if state.register_reference is not None:
            await state.register_reference(user, reference)
        state.index.users[user] = LocalUser(reference, state.register_reference is not None)
        state.index.by_reference[reference] = user

    @app.post("/messages", status_code=201)
    async def post_message(body: MessageIn, state: State, user: User) -> dict[str, Any]:
        """Store a message in Confida, then keep the app's working copy of it."""
        at = datetime.now(UTC)
        stored = await state.client.collect(user, KIND, PURPOSE, {
            "conversation_id": body.conversation_id, "role": "user", "text": body.text,
            "created_at": at.isoformat(),
        })
        await first_seen(state, user)
        state.index.add(user, LocalMessage(state.index.next_seq(), stored.record_id,
                                           body.conversation_id, "user", body.text, at))
        return {"record_id": stored.record_id, "pii_found": stored.pii_summary}

    @app.get("/conversations/{conversation_id}")
    async def conversation(conversation_id: str, state: State, user: User) -> dict[str, Any]:
        """The app's own copy: what a chat UI shows (fast, no call to Confida)."""
        msgs = [m for m in state.index.messages(user) if m.conversation_id == conversation_id]
        return {"conversation_id": conversation_id,
                "messages": [{"record_id": m.record_id, "role": m.role, "text": m.text,
                              "at": m.at.isoformat()} for m in msgs]}

    @app.get("/messages/{record_id}")
    async def message(record_id: str, state: State, user: User) -> dict[str, Any]:
        """A message read back from Confida, for the service purpose (audited there)."""
        if not any(m.record_id == record_id for m in state.index.messages(user)):
            raise HTTPException(404, "no such message")  # only the user's own messages
        rec = await state.client.get(record_id, PURPOSE)
        return {"record_id": rec.id, "data": rec.data}

    @app.get("/training-consent")
    async def training_consent(state: State, user: User) -> dict[str, Any]:
        """Whether the user allows training on their conversations (Confida's ledger)."""
        c = await state.client.consents(user, PURPOSE)
        now = c.current.get(TRAINING)
        return {"purpose": TRAINING, "granted": bool(now and now.granted),
                "since": now.since if now else None}

    @app.put("/training-consent")
    async def set_training_consent(body: ConsentIn, state: State, user: User
                                   ) -> dict[str, Any]:
        """Grant or withdraw; a withdrawal applies to Confida's very next read."""
        if body.granted:
            await state.client.grant_consent(user, TRAINING, notice_version=body.notice_version)
        else:
            await state.client.withdraw_consent(user, TRAINING)
        return await training_consent(state, user)

    @app.get("/privacy")
    async def privacy(state: State, user: User) -> dict[str, Any]:
        """A single-use link to Confida's privacy center for this user (open it in a browser
        within its lifetime): their data, consents, export and deletion."""
        link = await state.client.privacy_link(user)
        return {"url": link.url, "expires_at": link.expires_at.isoformat()}

    @app.post("/erasure-feed/sync")
    async def erasure_sync(state: State) -> dict[str, Any]:
        """Poll the feed now (the background task does it every CHAT_FEED_POLL_SECONDS). An
        operator's call in a real app: put it behind the app's admin login."""
        r = await sync_erasures(state)
        return r.__dict__

    @app.post("/webhooks/confida", status_code=204)
    async def confida_webhook(request: Request, state: State) -> Response:
        """The signed ``erasure`` webhook (Standard Webhooks). It only says "there is a new
        notice": the app then reads the feed from its cursor, in order, so a repeated, late or
        lost delivery changes nothing."""
        if cfg.webhook_secret is None:
            raise HTTPException(404)
        from confida.webhooks import WebhookVerificationError, verify

        body = await request.body()  # verified as received, before parsing
        try:
            verify(cfg.webhook_secret, request.headers, body)
        except WebhookVerificationError:
            raise HTTPException(401, "bad signature") from None
        await sync_erasures(state)
        return Response(status_code=204)

    return app
