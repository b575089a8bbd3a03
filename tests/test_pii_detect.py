"""Unit tests of detection: each label, each language, and the negatives that must stay quiet."""

from __future__ import annotations

import pytest

from confida.pii import LABELS, Finding, detect, detect_many, summarize


def found(text: str) -> list[tuple[str, str]]:
    """(label, value) pairs, the readable form of a detection."""
    return [(f.label, text[f.start : f.end]) for f in detect(text)]


def has(text: str, label: str, value: str) -> bool:
    return (label, value) in found(text)


# --- structured identifiers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value",
    [
        ("write to jane.doe+news@mail.example.co.uk today", "jane.doe+news@mail.example.co.uk"),
        ("Schreib an k.müller@web.de bitte", "k.müller@web.de"),
        ("contact: x_y-z@sub.domain.org.", "x_y-z@sub.domain.org"),
    ],
)
def test_email(text: str, value: str) -> None:
    assert has(text, "EMAIL", value)


def test_email_domain_alone_is_not_email() -> None:
    assert found("we use gmail.com and @example for that") == []


@pytest.mark.parametrize(
    "text,value",
    [
        ("see https://example.org/profile?id=3 for more.", "https://example.org/profile?id=3"),
        ("Link (https://de.wikipedia.org/wiki/Foo_(Bar)) here",
         "https://de.wikipedia.org/wiki/Foo_(Bar)"),
        ("visit www.my-site.nl/over-mij, thanks", "www.my-site.nl/over-mij"),
    ],
)
def test_url(text: str, value: str) -> None:
    assert has(text, "URL", value)


@pytest.mark.parametrize(
    "text,value",
    [
        ("server 192.168.10.23 is down", "192.168.10.23"),
        ("host 2001:db8:85a3::8a2e:370:7334 answered", "2001:db8:85a3::8a2e:370:7334"),
        ("fe80:0:0:0:202:b3ff:fe1e:8329 is mine", "fe80:0:0:0:202:b3ff:fe1e:8329"),
    ],
)
def test_ip(text: str, value: str) -> None:
    assert has(text, "IP_ADDRESS", value)


@pytest.mark.parametrize(
    "text",
    ["Version 2.14.1 broke it", "bump to 1.2.3", "IP 999.1.1.1 is not valid", "at 10:30:00 sharp",
     "localhost 127.0.0.1 only"],
)
def test_ip_negatives(text: str) -> None:
    assert [label for label, _ in found(text)] == []


@pytest.mark.parametrize(
    "value",
    ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011000990139424"],
)
def test_credit_card(value: str) -> None:
    assert has(f"My card {value} was charged twice.", "CREDIT_CARD", value)


def test_credit_card_invalid_luhn() -> None:
    assert found("My card 4111 1111 1111 1112 was charged twice.") == []


@pytest.mark.parametrize(
    "value",
    ["DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819", "FR14 2004 1010 0505 0001 3M02 606",
     "PL61109010140000071219812874", "IT60X0542811101000000123456", "ES9121000418450200051332",
     "NL91ABNA0417164300"],
)
def test_iban(value: str) -> None:
    assert has(f"Bitte auf {value} überweisen.", "IBAN", value)


def test_iban_invalid_checksum_and_trailing_capitals() -> None:
    assert found("IBAN DE89 3704 0044 0532 0130 01 please") == []
    assert has("IBAN DE89370400440532013000 ASAP", "IBAN", "DE89370400440532013000")


@pytest.mark.parametrize(
    "text,value",
    [
        ("Please call me back on 239-409-9603 after 5pm.", "239-409-9603"),
        ("Ruf mich an: +49 30 901820", "+49 30 901820"),
        ("Appelle-moi au 06 12 34 56 78 ce soir", "06 12 34 56 78"),
        ("Llámame al +34 612 345 678", "+34 612 345 678"),
        ("Chiamami al 347 123 4567", "347 123 4567"),
        ("Bel me op 06-12345678", "06-12345678"),
        ("Zadzwoń pod +48 512 345 678", "+48 512 345 678"),
        ("tel. +44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
        ("office (212) 555-0199 x204", "(212) 555-0199 x204"),
    ],
)
def test_phone(text: str, value: str) -> None:
    assert has(text, "PHONE", value)


@pytest.mark.parametrize(
    "text",
    ["Order #48213 arrived damaged, the box said 12 x 0.5 L.", "What's 17 times 23?",
     "I paid 1500 euros in 2023", "the population was 83200000"],
)
def test_ordinary_numbers_are_not_pii(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "value,kind",
    [
        ("136-78-8336", "us.ssn"),
        ("ZZ 86 25 27 T", "gb.nino"),
        ("AB123456C", "gb.nino"),
        ("68347449012", "de.idnr"),
        ("123129741125015", "fr.nir"),
        ("48530762A", "es.dni"),
        ("Y7811503G", "es.nie"),
        ("PLLBRC70T03G064L", "it.codicefiscale"),
        ("526907411", "nl.bsn"),
        ("59071281942", "pl.pesel"),
    ],
)
def test_national_ids(value: str, kind: str) -> None:
    text = f"Is it safe to paste my ID number {value} into a form?"
    hits = [f for f in detect(text) if f.label == "NATIONAL_ID"]
    assert [(text[f.start : f.end], f.kind) for f in hits] == [(value, kind)]


def test_national_id_bad_checksums() -> None:
    for bad in ("68347449013", "48530762B", "PLLBRC70T03G064M", "59071281943"):
        assert [f.label for f in detect(f"my ID number {bad}")] == [], bad


def test_vat_id() -> None:
    assert has("Our VAT number is DE136695976.", "VAT_ID", "DE136695976")


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value",
    [
        ("I was born on January 13, 2004, how old am I?", "January 13, 2004"),
        ("I was born on 17 March 1982.", "17 March 1982"),
        ("Ich bin am 13. Januar 1990 geboren", "13. Januar 1990"),
        ("geboren am 03.07.1977 in Köln", "03.07.1977"),
        ("je suis né le 12 février 1985", "12 février 1985"),
        ("nací el 5 de mayo de 1990", "5 de mayo de 1990"),
        ("sono nato il 24 agosto 1991", "24 agosto 1991"),
        ("ik ben geboren op 9 januari 1981", "9 januari 1981"),
        ("urodziłem się 14 października 1941", "14 października 1941"),
        ("DOB: 1957-10-28", "1957-10-28"),
        ("born 29/04/1937", "29/04/1937"),
    ],
)
def test_dates(text: str, value: str) -> None:
    assert has(text, "DATE", value)


@pytest.mark.parametrize(
    "text",
    ["see you tomorrow", "Version 2.14.1 broke our build", "on 31/02/1990 nothing happened",
     "meet at 12.30 on Monday"],
)
def test_date_negatives(text: str) -> None:
    assert [label for label, _ in found(text) if label == "DATE"] == []


# --- names and places ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value",
    [
        ("Hi, my name is Baldassare Fornaciari and I need help.", "Baldassare Fornaciari"),
        ("Mein Name ist Jürgen Weber.", "Jürgen Weber"),
        ("Bonjour, je m'appelle Camille Lefèvre.", "Camille Lefèvre"),
        ("Hola, me llamo Lucía Fernández.", "Lucía Fernández"),
        ("Ciao, mi chiamo Giulia Ferrari.", "Giulia Ferrari"),
        ("Hoi, mijn naam is Daan de Vries.", "Daan de Vries"),
        ("Cześć, nazywam się Krzysztof Nowak.", "Krzysztof Nowak"),
        ("Write a birthday poem for Eline, she loves gardening.", "Eline"),
        ("Also remind me to call Madeleine later.", "Madeleine"),
        ("Anna Connor-Hardy asked me to forward this.", "Anna Connor-Hardy"),
    ],
)
def test_person(text: str, value: str) -> None:
    assert has(text, "PERSON", value)


@pytest.mark.parametrize(
    "text,value",
    [
        ("Please ask Mr. Smith about it", "Mr. Smith"),
        ("Termin mit Frau Schneider morgen", "Frau Schneider"),
        ("Rendez-vous avec Mme Dubois", "Mme Dubois"),
        ("forward it to pan Maurycy Durys", "pan Maurycy Durys"),
        ("stuur het naar mevr. Jansen", "mevr. Jansen"),
    ],
)
def test_person_with_title(text: str, value: str) -> None:
    assert has(text, "PERSON", value)


@pytest.mark.parametrize(
    "text",
    ["Explain the difference between TCP and UDP in simple terms.",
     "Give me a recipe for vegan lasagna for 6 people.",
     "Translate to English: Bitte überweisen Sie den Betrag.",
     "Fix this code: for i in range(10): print(i*2"],
)
def test_no_person_in_plain_requests(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "text,value",
    [
        ("I moved to 221B Baker Street, London, NW1 6XE last week",
         "221B Baker Street, London, NW1 6XE"),
        ("Ich wohne in der Hauptstraße 5, 10115 Berlin.", "Hauptstraße 5, 10115 Berlin"),
        ("j'habite au 27, avenue de la République, 75011 Paris",
         "27, avenue de la République, 75011 Paris"),
        ("vivo en Calle Mayor 12, Madrid, 28013 desde ayer", "Calle Mayor 12, Madrid, 28013"),
        ("abito in Via Roma, 45, 10121, Torino (TO)", "Via Roma, 45, 10121, Torino (TO)"),
        ("Ik woon op Kerkstraat 12, 1017 GC, Amsterdam", "Kerkstraat 12, 1017 GC, Amsterdam"),
        ("mieszkam przy ul. Długa 7/3, 80-827 Gdańsk", "ul. Długa 7/3, 80-827 Gdańsk"),
        ("I moved to Springfield last week", "Springfield"),
        ("The meeting with Nico is in Eggenfelden next Tuesday.", "Eggenfelden"),
    ],
)
def test_location(text: str, value: str) -> None:
    assert has(text, "LOCATION", value)


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value",
    [
        ("db password=Tr0ub4dor&3 ok", "Tr0ub4dor&3"),
        ("Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx123", "sk-proj-abcdefghijklmnopqrstuvwx123"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_secret(text: str, value: str) -> None:
    assert has(text, "SECRET", value)


def test_private_key_block() -> None:
    block = ("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\nabc+/==\n"
             "-----END RSA PRIVATE KEY-----")
    text = f"here:\n{block}\nthanks"
    assert has(text, "SECRET", block)


# --- API shape ---------------------------------------------------------------------------------


def test_findings_sorted_non_overlapping_and_summary() -> None:
    text = ("Contact: Morena Losa, tel. +34976 439 575, mail cecilio31@gmail.com, "
            "card 4111 1111 1111 1111")
    fs = detect(text)
    assert fs == sorted(fs, key=lambda f: f.start)
    assert all(a.end <= b.start for a, b in zip(fs, fs[1:]))
    assert summarize(fs) == {"CREDIT_CARD": 1, "EMAIL": 1, "PERSON": 1, "PHONE": 1}
    assert all(f.label in LABELS for f in fs)


def test_detect_many_and_edge_inputs() -> None:
    assert detect("") == []
    assert detect_many(["", "mail a@b.co"]) == [[], [Finding(5, 11, "EMAIL")]]
    assert isinstance(detect("\ud800 broken \udfff surrogate a@b.co"), list)
    assert isinstance(detect(bytes(range(256)).decode("latin-1")), list)


def test_finding_is_frozen_and_validated() -> None:
    f = Finding(1, 3, "EMAIL", 0.5)
    with pytest.raises(AttributeError):
        f.start = 0  # type: ignore[misc]
    with pytest.raises(ValueError):
        Finding(3, 1, "EMAIL")
