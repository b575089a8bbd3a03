"""``confida demo``: seed synthetic users and print a console key and a privacy-center link;
``confida link SUBJECT``: a single-use privacy-center link for one person.

Everything it writes is made up by Faker (seeded, so reruns look alike) and goes through the
same core calls as real data (collect, consent, requests), audit entries included.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Annotated

import typer

from confida import record
from confida.cli.output import console, emit, guard, state


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        users: Annotated[int, typer.Option(min=1, max=500, help="Synthetic users to create.")] = 12,
        base_url: Annotated[
            str, typer.Option(help="Where `confida serve` listens.")
        ] = "https://127.0.0.1:8443",
        link_minutes: Annotated[
            int, typer.Option(min=1, max=15, help="Lifetime of the privacy-center link.")
        ] = 15,
        seed: Annotated[int, typer.Option(help="Random seed for Faker.")] = 7,
    ) -> None:
        """Seed demo users (accounts, conversations, usage, consents, requests) for the web UI."""
        st = state(ctx)
        with guard(st):
            vault = st.vault()
            try:
                out = seed_demo(vault, users=users, seed=seed, link_minutes=link_minutes,
                                actor=st.actor())
            finally:
                vault.close()
        out["console_url"] = f"{base_url}/console/login"
        out["privacy_link"] = f"{base_url}/privacy/enter?token={out.pop('token')}"
        out["privacy_link_expires_at"] = out.pop("token_expires_at")

        def human() -> None:
            console.print(f"Seeded {out['users']} synthetic users "
                          f"({out['records']} records, {out['requests']} requests).")
            console.print(f"\nConsole:        {out['console_url']}")
            console.print(f"Console API key (role {out['role']}, shown once): {out['api_key']}",
                          soft_wrap=True)
            console.print(f"\nPrivacy center for demo user {out['demo_user']} "
                          f"(opens once, within {link_minutes} min):")
            console.print(out["privacy_link"], soft_wrap=True)
            console.print("\nThe certificate is self-signed: accept it in the browser.")

        emit(st, out, human)

    @app.command()
    def link(
        ctx: typer.Context,
        subject: Annotated[str, typer.Argument(help="The host application's id for the person.")],
        base_url: Annotated[
            str, typer.Option(help="Where `confida serve` listens, as the person reaches it.")
        ] = "https://127.0.0.1:8443",
        minutes: Annotated[
            int, typer.Option(min=1, max=15, help="How long the link may wait to be opened.")
        ] = 15,
    ) -> None:
        """Print a single-use privacy-center link for SUBJECT (opens one session, once)."""
        from confida import subject_token

        st = state(ctx)
        with guard(st):
            vault = st.vault()
            try:
                made = subject_token.privacy_link(vault, subject, base_url=base_url,
                                                  minutes=minutes, actor=st.actor())
            finally:
                vault.close()
        out = {"url": made.url, "expires_at": made.expires_at.isoformat()}
        emit(st, out, lambda: console.print(made.url, soft_wrap=True))

    _ = demo, link


def seed_demo(vault, *, users: int, seed: int, link_minutes: int, actor) -> dict:  # type: ignore[no-untyped-def]
    """Create the demo data; returns counts, the demo user's id, a token and a console key."""
    from faker import Faker

    from confida import consent, credential, request, subject_token
    from confida.record import CollectItem
    from confida.vault import Vault

    fake = Faker(["en_GB", "de_DE"])
    Faker.seed(seed)
    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    now = vault.clock()
    ids = [f"demo-{seed}-{i:04d}" for i in range(users)]
    items: list[CollectItem] = []
    for i, uid in enumerate(ids):
        items.append(CollectItem(uid, "account", {
            "email": fake.unique.email(), "display_name": fake.name(),
            "plan": rnd.choice(["free", "plus", "pro"]), "locale": rnd.choice(["en", "de"]),
            "country": rnd.choice(["DE", "AT", "GB", "FR"]),
        }, "service"))
        for _ in range(rnd.randint(2, 5)):
            items.append(CollectItem(uid, "conversation_message", {
                "conversation_id": f"c-{i}-{rnd.randint(1, 3)}", "role": "user",
                "text": fake.sentence(nb_words=12), "model": "aria-1",
                "created_at": (now - timedelta(days=rnd.randint(0, 90))).isoformat(),
            }, "service"))
        for _ in range(rnd.randint(1, 4)):
            items.append(CollectItem(uid, "usage_event", {
                "event": "feature_used", "feature": rnd.choice(["chat", "voice", "search"]),
                "country": rnd.choice(["DE", "AT", "GB"]), "duration_ms": rnd.randint(50, 9000),
            }, "analytics"))
    record.collect_many(vault, items, actor=actor)
    n_records = len(items)
    training: list[CollectItem] = []
    for i, uid in enumerate(ids):
        if i % 3 != 2:  # two in three say yes to training, the demo user among them
            consent.grant(vault, uid, "model_training", source="import", actor=actor)
            training.append(CollectItem(uid, "conversation_message", {
                "conversation_id": f"c-{i}-1", "role": "user",
                "text": fake.sentence(nb_words=10),
            }, "model_training"))
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
        submit_at(7 * w + rnd.randint(0, 6), types[w % 3], uid)
        n_requests += 1
    done = submit_at(20, request.RECTIFICATION, ids[-1])
    request.complete(vault, done, actor=actor)
    n_requests += 1
    role = "dpo" if "dpo" in vault.register.roles else "admin"
    key = credential.create(vault, role, label="confida demo console",
                            expires_at=now + timedelta(days=1), actor=actor)
    token = subject_token.issue(vault, ids[0], minutes=link_minutes, use=subject_token.LINK,
                                actor=actor)
    return {"users": users, "records": n_records, "requests": n_requests, "demo_user": ids[0],
            "role": role, "api_key": key.key, "token": token.token,
            "token_expires_at": token.expires_at.isoformat()}
