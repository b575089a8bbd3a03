"""``confida demo``: seed synthetic users and print a console key and a privacy-center link;
``confida link SUBJECT``: a single-use privacy-center link for one person.

Everything the demo writes is made up by Faker (seeded, so reruns look alike) and goes through
the same core calls as real data (collect, consent, requests), audit entries included. It goes
to its own data directory, ``./confida-demo`` (made on first use), unless ``--data-dir`` is on
the command line: ``CONFIDA_DATA_DIR``, which names the real one, is not enough. Running it
again adds nothing that is there already (the users are the same ids for the same ``--seed``);
it only issues a new console key and link.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from confida import record
from confida.cli.output import State, console, emit, err_console, guard, state
from confida.cli.serve import base_url as resolve_base_url

#: The demo's own data directory, relative to where it runs.
DEMO_DATA_DIR = "confida-demo"

BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", envvar="CONFIDA_BASE_URL", show_default=False,
                 help="Where `confida serve` is reached, e.g. https://privacy.example.com "
                 "(default: the address it last listened on for this data dir, else "
                 "https://127.0.0.1:8443)."),
]


def _demo_state(st: State) -> State:
    """The data dir the demo writes to: the one named with --data-dir, else its own (made now
    when it does not exist yet)."""
    if st.data_dir_explicit:
        return st
    from confida.cli.init import initialise

    own = State(data_dir=str(Path(DEMO_DATA_DIR).resolve()), json=st.json,
                data_dir_explicit=True)
    if not own.config().is_initialised:
        initialise(own)
    return own


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        users: Annotated[int, typer.Option(min=1, max=500, help="Synthetic users to create.")] = 12,
        base_url: BaseUrl = None,
        link_minutes: Annotated[
            int, typer.Option(min=1, max=15, help="Lifetime of the privacy-center link.")
        ] = 15,
        seed: Annotated[int, typer.Option(help="Random seed for Faker.")] = 7,
    ) -> None:
        """Seed demo users (accounts, conversations, usage, consents, requests) for the web UI.

        Writes to ./confida-demo unless --data-dir is given on the command line; running it
        again adds nothing twice.
        """
        st = state(ctx)
        with guard(st):
            target = _demo_state(st)
            vault = target.vault()
            try:
                out = seed_demo(vault, users=users, seed=seed, link_minutes=link_minutes,
                                actor=target.actor())
                url = resolve_base_url(vault.config, base_url)
            finally:
                vault.close()
        out["data_dir"] = str(Path(target.data_dir or "").resolve())
        out["console_url"] = f"{url}/console/login"
        out["privacy_link"] = f"{url}/privacy/enter?token={out.pop('token')}"
        out["privacy_link_expires_at"] = out.pop("token_expires_at")

        def human() -> None:
            counts = f"{out['records']} records, {out['requests']} requests"
            if out["new_users"] == out["users"]:
                console.print(f"Seeded {out['users']} synthetic users ({counts}).")
            elif out["new_users"]:
                console.print(f"Added {out['new_users']} synthetic users; {out['users']} in "
                              f"all ({counts}).")
            else:
                console.print(f"The {out['users']} synthetic users were already there "
                              f"({counts}); nothing added.")
            console.print(f"\nConsole:        {out['console_url']}")
            console.print(f"Console API key (role {out['role']}, shown once): {out['api_key']}",
                          soft_wrap=True)
            console.print(f"\nPrivacy center for demo user {out['demo_user']} "
                          f"(opens once, within {link_minutes} min):")
            console.print(out["privacy_link"], soft_wrap=True)
            console.print("\nThe certificate is self-signed: accept it in the browser.")
            console.print(f"\nDemo data directory: {out['data_dir']}", soft_wrap=True)
            if not st.data_dir_explicit:
                console.print(f"Serve it with: confida --data-dir {out['data_dir']} serve",
                              soft_wrap=True)

        emit(st, out, human)

    @app.command()
    def link(
        ctx: typer.Context,
        subject: Annotated[str, typer.Argument(help="The host application's id for the person.")],
        base_url: BaseUrl = None,
        minutes: Annotated[
            int, typer.Option(min=1, max=15, help="How long the link may wait to be opened.")
        ] = 15,
    ) -> None:
        """Print a single-use privacy-center link for SUBJECT (opens one session, once).

        With --json: {"url", "expires_at"}.
        """
        from confida import subject_token

        st = state(ctx)
        with guard(st):
            vault = st.vault()
            try:
                made = subject_token.privacy_link(
                    vault, subject, base_url=resolve_base_url(vault.config, base_url),
                    minutes=minutes, actor=st.actor())
            finally:
                vault.close()
        out = {"url": made.url, "expires_at": made.expires_at.isoformat()}

        def human() -> None:
            console.print(made.url, soft_wrap=True, markup=False, highlight=False)
            err_console.print(f"opens once, until {made.expires_at:%Y-%m-%d %H:%M} UTC")

        emit(st, out, human)

    _ = demo, link


def seed_demo(vault, *, users: int, seed: int, link_minutes: int, actor) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Create the demo data that is not there yet; returns the counts of the demo's users,
    records and requests (all of them, not only the new ones), how many users are new, the
    demo user's id, a token and a console key.

    The users are ``demo-<seed>-<n>``: a user who has records already is left as they are, so a
    second run adds nothing (and the random draws are made all the same, so that a user added
    later, with a larger ``--users``, gets the data a first run would have given them).
    """
    from faker import Faker

    from confida import consent, credential, request, subject_token
    from confida.record import CollectItem
    from confida.vault import Vault

    fake = Faker(["en_GB", "de_DE"])
    Faker.seed(seed)
    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    now = vault.clock()
    ids = [f"demo-{seed}-{i:04d}" for i in range(users)]
    held = {uid: len(record.list_records(vault, uid, actor=actor)) for uid in ids}
    new = {uid for uid, n in held.items() if n == 0}
    items: list[CollectItem] = []
    for i, uid in enumerate(ids):
        mine: list[CollectItem] = [CollectItem(uid, "account", {
            "email": fake.unique.email(), "display_name": fake.name(),
            "plan": rnd.choice(["free", "plus", "pro"]), "locale": rnd.choice(["en", "de"]),
            "country": rnd.choice(["DE", "AT", "GB", "FR"]),
        }, "service")]
        for _ in range(rnd.randint(2, 5)):
            mine.append(CollectItem(uid, "conversation_message", {
                "conversation_id": f"c-{i}-{rnd.randint(1, 3)}", "role": "user",
                "text": fake.sentence(nb_words=12), "model": "aria-1",
                "created_at": (now - timedelta(days=rnd.randint(0, 90))).isoformat(),
            }, "service"))
        for _ in range(rnd.randint(1, 4)):
            mine.append(CollectItem(uid, "usage_event", {
                "event": "feature_used", "feature": rnd.choice(["chat", "voice", "search"]),
                "country": rnd.choice(["DE", "AT", "GB"]), "duration_ms": rnd.randint(50, 9000),
            }, "analytics"))
        if uid in new:
            items += mine
    if items:
        record.collect_many(vault, items, actor=actor)
    n_records = sum(held.values()) + len(items)
    training: list[CollectItem] = []
    for i, uid in enumerate(ids):
        if i % 3 != 2:  # two in three say yes to training, the demo user among them
            text = fake.sentence(nb_words=10)
            if uid in new:
                consent.grant(vault, uid, "model_training", source="import", actor=actor)
                training.append(CollectItem(uid, "conversation_message", {
                    "conversation_id": f"c-{i}-1", "role": "user", "text": text,
                }, "model_training"))
    if training:
        record.collect_many(vault, training, actor=actor)
    n_records += len(training)
    n_requests = 0

    def submit_at(days_ago: int, type_: str, uid: str) -> str:
        """A request received ``days_ago`` days ago (a vault whose clock is set back)."""
        past = Vault(vault.config, clock=lambda: now - timedelta(days=days_ago))
        try:
            return request.submit(past, type_, uid, "demo:host-login", actor=actor).id
        finally:
            past.close()

    types = [request.RECTIFICATION, request.RESTRICTION, request.ACCESS]
    for w, uid in enumerate(ids[1:6], start=1):  # one a week; the oldest are overdue
        days_ago = 7 * w + rnd.randint(0, 6)
        if uid in new:
            submit_at(days_ago, types[w % 3], uid)
        n_requests += 1
    if ids[-1] in new:
        done = submit_at(20, request.RECTIFICATION, ids[-1])
        request.complete(vault, done, actor=actor)
    n_requests += 1
    role = "dpo" if "dpo" in vault.register.roles else "admin"
    key = credential.create(vault, role, label="confida demo console",
                            expires_at=now + timedelta(days=1), actor=actor)
    token = subject_token.issue(vault, ids[0], minutes=link_minutes, use=subject_token.LINK,
                                actor=actor)
    return {"users": users, "new_users": len(new), "records": n_records,
            "requests": n_requests, "demo_user": ids[0], "role": role, "api_key": key.key,
            "token": token.token, "token_expires_at": token.expires_at.isoformat()}
