"""Synthetic chat-style sentences for the tagger, with exact gold spans.

The public corpora are news, Wikipedia and tweets; people talking to an assistant write
differently: lower-case names ("hi im anna schmidt"), a first name alone after a cue, a name
next to a @handle, an emoji or a URL, a signature under an e-mail, a street address in a
delivery question.  These templates add that kind of text in the seven languages, filled with
Faker's names and places under a fixed seed, so ``make model`` is reproducible.  They are a
supplement, never the only source: most of what the model learns comes from real text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from faker import Faker

from confida.pii.ner_corpus import Sentence

_SLOT = re.compile(r"\{(PER|FIRST|LAST|LOC|CITY|COUNTRY|ADDR|HANDLE|EMOJI|URL|EMAIL)\}")
_LABEL = {"PER": "PERSON", "FIRST": "PERSON", "LAST": "PERSON", "LOC": "LOCATION",
          "CITY": "LOCATION", "COUNTRY": "LOCATION", "ADDR": "LOCATION"}

_EMOJI = ["🙂", "😂", "👍", "🙏", "❤️", "😅", ":)", ":-)", ";)", "xD", "!!", "🎉", "😊"]

TEMPLATES: dict[str, list[str]] = {
    "en": [
        "hi im {PER} and i need help with my account",
        "hi, I'm {FIRST} {EMOJI} can you help me",
        "my name is {PER}, I live in {CITY}",
        "can you write an email to {PER} about the invoice",
        "please send the contract to {FIRST}, she is our new lawyer",
        "{FIRST} said the meeting moved to thursday",
        "ask {FIRST} if the report is done",
        "Thanks {FIRST}! {EMOJI}",
        "hey @{HANDLE} did {FIRST} send you the file? {URL}",
        "cc {PER} {EMAIL}",
        "Best regards,\n{PER}\n{ADDR}",
        "Kind regards\n{PER}\nSales Manager",
        "Cheers, {FIRST}",
        "i moved from {CITY} to {CITY} last year",
        "my address is {ADDR}",
        "please deliver to {ADDR}",
        "ship it to {PER}, {ADDR}",
        "I'm flying to {COUNTRY} next week with {FIRST}",
        "my daughter {FIRST} goes to school in {CITY}",
        "write a birthday poem for my wife {FIRST}",
        "Dear {PER},\nthank you for your message.",
        "Mr {LAST} called again about the refund",
        "Dr. {LAST} will see you on monday",
        "{PER} ({EMAIL}) asked to cancel the order",
        "LOL {FIRST} that's hilarious {EMOJI}",
        "meeting with {PER} at the {CITY} office",
        "my boss {PER} wants the slides by friday",
        "translate this for {FIRST}: see you tomorrow",
        "i live at {ADDR} and my neighbour {PER} keeps parking in front of my house",
        "how do I reset my password?",
        "can you summarize this article about climate policy",
        "write a python function that sorts a list",
        "what is the capital of australia",
        "the meeting is on monday at 10am",
        "please fix the bug in the login page",
        "I need a recipe for dinner tonight",
        "explain the difference between tcp and udp",
    ],
    "de": [
        "hallo ich bin {PER} und habe eine frage",
        "Mein Name ist {PER}, ich wohne in {CITY}",
        "kannst du eine mail an {PER} schreiben",
        "{FIRST} hat gesagt, das Meeting ist verschoben",
        "Viele Grüße\n{PER}\n{ADDR}",
        "Liebe {FIRST}, danke für deine Nachricht {EMOJI}",
        "Bitte an {ADDR} liefern",
        "ich bin von {CITY} nach {CITY} gezogen",
        "Herr {LAST} hat wegen der Rechnung angerufen",
        "Frau {LAST} ist heute nicht im Büro",
        "meine tochter {FIRST} geht in {CITY} zur schule",
        "wie setze ich mein passwort zurück?",
        "schreib mir ein rezept für heute abend",
        "fasse diesen artikel zusammen",
    ],
    "fr": [
        "bonjour je suis {PER}, j'ai une question",
        "Je m'appelle {PER} et j'habite à {CITY}",
        "peux-tu écrire un mail à {PER}",
        "{FIRST} a dit que la réunion est annulée",
        "Cordialement,\n{PER}\n{ADDR}",
        "Merci {FIRST} {EMOJI}",
        "livrez à {ADDR} s'il vous plaît",
        "Mme {LAST} a appelé pour la facture",
        "M. {LAST} arrive demain à {CITY}",
        "comment réinitialiser mon mot de passe ?",
        "résume cet article s'il te plaît",
    ],
    "nl": [
        "hoi ik ben {PER} en ik heb een vraag",
        "Mijn naam is {PER}, ik woon in {CITY}",
        "kun je een mail naar {PER} sturen",
        "{FIRST} zei dat de vergadering verplaatst is",
        "Met vriendelijke groet,\n{PER}\n{ADDR}",
        "Bedankt {FIRST} {EMOJI}",
        "graag bezorgen op {ADDR}",
        "mevrouw {LAST} belde over de factuur",
        "hoe reset ik mijn wachtwoord?",
    ],
    "es": [
        "hola soy {PER} y tengo una pregunta",
        "Me llamo {PER} y vivo en {CITY}",
        "escribe un correo a {PER}",
        "Saludos,\n{PER}\n{ADDR}",
        "la señora {LAST} llamó por la factura",
        "¿cómo cambio mi contraseña?",
    ],
    "it": [
        "ciao sono {PER} e ho una domanda",
        "Mi chiamo {PER} e abito a {CITY}",
        "scrivi una mail a {PER}",
        "Cordiali saluti,\n{PER}\n{ADDR}",
        "il signor {LAST} ha chiamato per la fattura",
        "come cambio la password?",
    ],
    "pl": [
        "cześć jestem {PER} i mam pytanie",
        "Nazywam się {PER} i mieszkam w {CITY}",
        "napisz maila do {PER}",
        "Pozdrawiam,\n{PER}\n{ADDR}",
        "pani {LAST} dzwoniła w sprawie faktury",
        "jak zmienić hasło?",
    ],
}

_LOCALES = {"en": ["en_US", "en_GB"], "de": ["de_DE"], "fr": ["fr_FR"], "nl": ["nl_NL"],
            "es": ["es_ES"], "it": ["it_IT"], "pl": ["pl_PL"]}


def _value(slot: str, fake: Faker, rng: random.Random) -> str:
    if slot == "PER":
        return f"{fake.first_name()} {fake.last_name()}"
    if slot == "FIRST":
        return fake.first_name()
    if slot == "LAST":
        return fake.last_name()
    if slot in ("CITY", "LOC"):
        return fake.city()
    if slot == "COUNTRY":
        return fake.country()
    if slot == "ADDR":
        return fake.address().replace("\n", ", " if rng.random() < 0.6 else "\n")
    if slot == "HANDLE":
        return fake.user_name()
    if slot == "EMOJI":
        return rng.choice(_EMOJI)
    if slot == "URL":
        return fake.url()
    return fake.email()


def _fill(template: str, fake: Faker, rng: random.Random) -> Sentence:
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(template):
        out.append(template[pos : m.start()])
        length += m.start() - pos
        value = _value(m.group(1), fake, rng)
        label = _LABEL.get(m.group(1))
        if label:
            spans.append((length, length + len(value), label))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return Sentence("".join(out), tuple(spans), source="synthetic")


def _recase(s: Sentence, rng: random.Random) -> Sentence:
    """Chat casing: all lower-case, all capitals, or as written."""
    r = rng.random()
    if r < 0.4:
        return Sentence(s.text.lower(), s.spans, s.lang, s.source)
    if r < 0.47:
        return Sentence(s.text.upper(), s.spans, s.lang, s.source)
    return s


def _seeded_faker(locale: str, seed: int) -> Faker:
    """A Faker that gives the same values in every process: seeded, and with its city list in
    a fixed order (it_IT builds that list from a set, whose order changes with the hash seed)."""
    fake = Faker(locale)
    fake.seed_instance(seed)
    for provider in fake.get_providers():
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list | tuple):
            provider.cities = sorted(cities)  # type: ignore[attr-defined]
    return fake


def synthetic(n_per_lang: dict[str, int], seed: int) -> Iterator[Sentence]:
    """``n`` filled templates per language, with chat casing, reproducible from ``seed``."""
    rng = random.Random(seed)
    for lang, n in n_per_lang.items():
        fakers = [_seeded_faker(loc, seed + i) for i, loc in enumerate(_LOCALES[lang])]
        templates = TEMPLATES[lang]
        for _ in range(n):
            s = _fill(rng.choice(templates), rng.choice(fakers), rng)
            s = _recase(s, rng)
            yield Sentence(s.text, s.spans, lang, "synthetic")
