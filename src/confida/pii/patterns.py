"""The single combined scanner: one regular expression, one pass over the text.

Every shape of interest is an alternative with a named group, so ``finditer`` visits each
character once and the named group that matched says what to validate.  Every quantifier is
bounded and no repetition is nested inside an unbounded one, so the time per start position
is bounded by a constant and a scan is linear in the length of the text, whatever it holds.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Upper-case Latin letters (Python's ``re`` has no \\p{Lu}); built once, immutable.
UPPER = "".join(
    sorted({c for c in map(chr, range(0x41, 0x250)) if c.isalpha() and c.isupper()})
)
_UP = "[" + re.escape(UPPER) + "]"
_LET = r"[^\W\d_]"

#: A capitalised word: "Anna", "Connor-Hardy", "O'Donnell", "LeroyBourg", "Bigot-la-Forêt".
CAPWORD = rf"{_UP}{_LET}{{0,30}}(?:[-'’]{_LET}{{1,30}}){{0,3}}"

PARTICLES_RE = r"(?:van|der|den|de|di|da|del|della|dos|das|du|des|la|le|von|zu|ter|te|y|sur)"

#: Month names (and common abbreviations) of the seven languages, mapped to month numbers.
MONTHS: dict[str, int] = {}
for _num, _names in enumerate(
    (
        "january jan januar jänner janvier enero gennaio januari stycznia styczeń",
        "february feb februar février fevrier febrero febbraio februari lutego luty",
        "march mar märz maerz mars marzo maart marca marzec",
        "april apr avril abril aprile kwietnia kwiecień",
        "may mai mayo maggio mei maja maj",
        "june jun juni juin junio giugno czerwca czerwiec",
        "july jul juli juillet julio luglio lipca lipiec",
        "august aug août aout agosto augustus sierpnia sierpień",
        "september sep sept septembre septiembre setiembre settembre września wrzesień",
        "october oct oktober octobre octubre ottobre października październik",
        "november nov novembre noviembre listopada listopad",
        "december dec dezember décembre decembre diciembre dicembre grudnia grudzień",
    ),
    start=1,
):
    for _n in _names.split():
        MONTHS[_n] = _num

_MONTH = "(?:" + "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True)) + ")"

#: Street words that follow the street's name ("Baker Street", "Lori Vista").
STREET_SUFFIXES: tuple[str, ...] = (
    "street", "st", "road", "rd", "avenue", "ave", "av", "boulevard", "blvd", "lane", "ln",
    "drive", "dr", "court", "ct", "place", "pl", "square", "sq", "terrace", "way", "close",
    "crescent", "gardens", "grove", "hill", "park", "parkway", "pkwy", "highway", "hwy",
    "circle", "cir", "trail", "row", "walk", "mews", "green", "view", "vista", "lakes",
    "lake", "mountain", "mountains", "motorway", "plaza", "ridge", "valley", "heights",
    "junction", "falls", "fields", "meadow", "meadows", "crossing", "point", "port", "springs",
    "station", "stream", "track", "turnpike", "villages", "village", "ville", "wells", "alley",
    "branch", "bridge", "brook", "brooks", "bypass", "camp", "canyon", "cape", "causeway",
    "center", "centre", "cliff", "cliffs", "club", "common", "corner", "corners", "course",
    "courts", "cove", "coves", "creek", "crest", "dale", "dam", "divide", "drives", "estate",
    "estates", "expressway", "extension", "ferry", "field", "flat", "flats", "ford", "fords",
    "forest", "forge", "fork", "forks", "fort", "freeway", "garden", "gateway", "glen",
    "glens", "harbor", "harbour", "haven", "hills", "hollow", "inlet", "island", "islands",
    "isle", "key", "keys", "knoll", "knolls", "landing", "light", "lights", "loaf", "lock",
    "locks", "lodge", "loop", "mall", "manor", "manors", "mill", "mills", "mission", "mount",
    "neck", "orchard", "oval", "overpass", "pass", "passage", "path", "pike", "pine", "pines",
    "plain", "plains", "points", "ports", "prairie", "radial", "ramp", "ranch", "rapid",
    "rapids", "rest", "ridges", "river", "roads", "route", "shoal", "shoals", "shore",
    "shores", "skyway", "spring", "spur", "squares", "streets", "summit", "throughway",
    "trace", "trafficway", "tunnel", "underpass", "union", "unions", "viaduct", "views",
    "ways", "wall", "well", "gateway", "hall", "drove", "parade", "rise", "wharf", "yard",
)

#: Street words that come before the street's name ("rue de la Paix", "Calle Mayor", "ul.").
STREET_PREFIXES: tuple[str, ...] = (
    "rue", "avenue", "av", "boulevard", "bd", "bld", "chemin", "impasse", "allée", "allee",
    "place", "quai", "route", "cours", "passage", "square", "voie", "sentier",
    "calle", "c", "avenida", "avda", "avd", "plaza", "pza", "paseo", "pasaje", "camino",
    "carretera", "ronda", "rambla", "glorieta", "travesía", "travesia", "callejón", "callejon",
    "cuesta", "urbanización", "urbanizacion", "alameda", "vial", "acceso", "cañada",
    "pasadizo", "via", "viale", "piazza", "piazzale", "corso", "largo", "vicolo", "strada",
    "contrada", "borgo", "lungomare", "rotonda", "stretto", "canale", "incrocio",
    "ulica", "ul", "aleja", "al", "plac", "pl", "osiedle", "os", "rynek", "skwer",
)

#: German and Dutch street names are one word ending in a street word ("Hauptstraße").
COMPOUND_STREET = (
    "straße", "strasse", "str", "gasse", "weg", "platz", "allee", "ring", "damm", "ufer",
    "chaussee", "markt", "steig", "pfad", "straat", "laan", "plein", "pad", "gracht", "kade",
    "dijk", "singel", "baan", "dreef", "hof", "steeg", "kanaal", "park", "wal",
)

#: Names of fields that hold secrets (not secrets themselves).
_SECRET_KEYS = (
    r"password|passwd|passwort|kennwort|pwd|mot[ ]de[ ]passe|contraseña|contrasena|"  # noqa: S105
    r"hasło|haslo|wachtwoord|parola[ ]d'ordine|api[_-]?key|apikey|secret|client[_-]?secret|"
    r"access[_-]?key|auth[_-]?token|access[_-]?token|token"
)


def _street_suffixes() -> tuple[str, ...]:
    """Our street words plus the USPS suffix list that Faker ships (Burgs, Groves, ...)."""
    words = set(STREET_SUFFIXES)
    try:
        from faker.providers.address.en_US import Provider

        words |= {w.lower() for w in Provider.street_suffixes}
    except ImportError:  # pragma: no cover - Faker is a dependency
        pass
    return tuple(sorted(words))


def _alt(words: tuple[str, ...]) -> str:
    """A regex alternation of literal words, longest first so that prefixes never win."""
    return "(?:" + "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True)) + ")"


#: Feature bits of a text; an alternative that needs a feature the text lacks is left out
#: of the scanner used for that text (e.g. no digit: no number, date, IBAN alternatives).
PEM, KV, AT, URL, COLON, DIGIT = 1, 2, 4, 8, 16, 32
ALL_FEATURES = PEM | KV | AT | URL | COLON | DIGIT

_DIGIT_RE = re.compile(r"\d")
_URL_RE = re.compile(r"(?i)https?://|www\.")


def features(text: str) -> int:
    """The feature bits of ``text``: each test is one C-speed search, cheaper than the
    alternatives it lets the scanner skip on every word of the text."""
    f = 0
    if "-----BEGIN" in text:
        f |= PEM
    if "=" in text or ":" in text:
        f |= KV
    if ":" in text:
        f |= COLON
    if "@" in text:
        f |= AT
    if _URL_RE.search(text):
        f |= URL
    if _DIGIT_RE.search(text):
        f |= DIGIT
    return f


def _parts() -> list[tuple[int, str]]:
    """The alternatives of the scanner with the feature each needs (0: none), top-down."""
    num = r"\d{1,5}(?:[ ]?[a-zA-Z](?![\w]))?(?:[/-]\d{1,4}(?![\w]))?"
    capseq = rf"{CAPWORD}(?:[ ](?:{PARTICLES_RE}[ ]){{0,2}}{CAPWORD}){{0,3}}"
    return [
        # --- secrets -----------------------------------------------------------------------
        (KV, rf"(?=[a-zA-Z][\w'’ -]{{1,20}}[=:])(?i:\b(?:{_SECRET_KEYS}))[ ]{{0,3}}[=:][ ]{{0,3}}"
             r"[\"']?(?P<kv>[^\s\"',;]{4,200})"),
        (0, r"(?i:\bbearer[ ])(?P<bearer>[A-Za-z0-9._~+/-]{16,2000}=*)"),
        (0, r"(?P<token>\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,200}|gh[pousr]_[A-Za-z0-9]{30,255}"
            r"|github_pat_[A-Za-z0-9_]{30,255}|AKIA[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9-]{10,200}"
            r"|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,60}"
            r"|eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{8,2000}))"),
        # --- internet ----------------------------------------------------------------------
        (AT, r"(?P<email>(?<![\w.%+-])\w[\w.%+-]{0,63}@"
             r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w-]))"),
        (URL, r"(?P<url>(?<![\w@])(?i:https?://|www\.)[^\s<>\"'`]{2,2000})"),
        (DIGIT, r"(?P<ipv4>(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d))"),
        (COLON, r"(?P<ipv6>(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]))"),
        # --- bank --------------------------------------------------------------------------
        (DIGIT, r"(?P<iban>(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,32})"),
        # --- dates -------------------------------------------------------------------------
        (DIGIT, r"(?P<date_iso>(?<![\d.\-/])(?:19|20)\d{2}(?P<isep>[-/.])\d{1,2}(?P=isep)\d{1,2}"
                r"(?![\d]|[.\-/]\d))"),
        (DIGIT, r"(?P<date_num>(?<![\d.\-/])\d{1,2}(?P<nsep>[./-])[ ]?\d{1,2}(?P=nsep)[ ]?"
                r"(?:19|20)\d{2}(?![\d]|[.\-/]\d))"),
        (DIGIT, rf"(?P<date_dm>(?<![\w.])\d{{1,2}}(?:st|nd|rd|th|er|º|°|\.)?[ ](?:de[ ])?"
                rf"(?i:{_MONTH})\.?(?:[ ]de)?,?[ ](?:19|20)\d{{2}}(?!\d))"),
        (DIGIT, rf"(?P<date_md>(?<![\w])(?=[^\W\d_]{{3,12}}\.?[ ]\d)(?i:{_MONTH})\.?[ ]\d{{1,2}}"
                r"(?:st|nd|rd|th)?,?[ ](?:19|20)\d{2}(?!\d))"),
        # --- street addresses ----------------------------------------------------------------
        (DIGIT, rf"(?P<addr_num>(?<![\w.,/-]){num},?[ ](?:(?i:{_alt(STREET_PREFIXES)})\.?[ ]"
                rf"(?:{PARTICLES_RE}[ ]){{0,2}}{CAPWORD}(?:[ ]{CAPWORD}){{0,3}}"
                rf"|(?:{CAPWORD}[ ]){{1,3}}(?i:{_alt(_street_suffixes())})\.?(?![\w])))"),
        (0, rf"(?P<addr_pre>(?<![\w])(?=[^\W\d_]{{1,14}}\.?[ ](?:(?:de|di|del|della|la|le|du|des)"
            rf"[ ])?[{re.escape(UPPER)}\d])(?i:{_alt(STREET_PREFIXES)})\.?[ ]"
            rf"(?:{PARTICLES_RE}[ ]){{0,2}}(?:{capseq}|\d{{1,2}}[ ]de[ ]{CAPWORD})"
            rf"(?P<addr_pre_num>,?[ ]{num})?(?![\w]))"),
        (DIGIT, rf"(?P<addr_cmp>(?<![\w])(?=[^\W\d_][\w'’-]{{1,44}}\.?[ ]\d){_UP}"
                rf"[\w'’-]{{0,40}}?(?i:{_alt(COMPOUND_STREET)})\.?[ ]{num}(?![\w]))"),
        # --- identifiers -------------------------------------------------------------------
        (DIGIT, r"(?P<nino>(?<![\w])[A-Z]{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[A-Z](?![\w]))"),
        (DIGIT, r"(?P<alnum>(?<![\w])(?=[0-9A-Z]{0,19}\d)(?=[0-9A-Z]{0,19}[A-Z])[0-9A-Z]{8,20}"
                r"(?![\w]))"),
        (DIGIT, r"(?P<ssn>(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w]|-\d))"),
        (DIGIT, r"(?P<number>(?<![\w+/.-])(?=[\d +().\-/]{6})(?:\+[ ]?)?(?:\(\d{1,5}\)[ .-]?)?"
                r"\d{1,19}(?:(?:[ .\-/]|[ ]?\(\d{1,4}\)[ ]?|[ ]-[ ])\d{1,19}){0,8}"
                r"(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?(?![\w]|[.,-]\d))"),
        # --- names and places: capitalised word sequences -------------------------------------
        (0, rf"(?P<cap>(?<![\w'’-]){capseq}(?![\w]))"),
    ]


def _build(feats: int = ALL_FEATURES) -> str:
    """The combined pattern for texts with the feature bits ``feats``."""
    pem = r"(?P<pem>-----BEGIN[ A-Z]{0,40}PRIVATE[ ]KEY-----)"
    body = "|".join(p for gate, p in _parts() if gate & feats == gate)
    # Every alternative but the private-key header starts a word: one look-behind rejects
    # the positions inside words before any alternative is tried, which is most of the text.
    words = rf"(?<!\w)(?:{body})"
    return f"{pem}|{words}" if feats & PEM else words


@lru_cache(maxsize=64)
def scanner(feats: int = ALL_FEATURES) -> re.Pattern[str]:
    """The compiled combined scanner for texts with feature bits ``feats`` (compiled once)."""
    return re.compile(_build(feats))


#: After a street, what may follow as part of the same address: house number, floor/door,
#: postcode, city, province code ("(TO)"), state and ZIP ("PW 67974"), UK postcode.
_TAIL_ITEM = (
    r"(?:(?:\d{2}-\d{3}|\d{4}[ ]?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}"
    r"|[A-Z]{2}[ ]\d{5}(?:-\d{4})?|\d{1,5}(?:[/-]\d{1,4})?(?:[ ]?[a-zA-Z])?"
    r"|\([A-Z]{2}\)"
    r"|(?i:piano|puerta|piso|planta|escalera|esc\.|apt\.?|apartment|suite|flat|unit|bus"
    r"|appartamento|app\.?|appartement|étage|etage|interno|int\.|scala|m\.|lok\.|wohnung"
    r"|studio|floor|box)[ ]?[\w]{1,4})(?![\w])"
    rf"|{CAPWORD}(?:[ ](?:{PARTICLES_RE}[ ]){{0,2}}{CAPWORD}){{0,3}}'?)"
)
TAIL = re.compile(rf"(?:[ ]?,[ ]?|[ ])(?:{_TAIL_ITEM})")
