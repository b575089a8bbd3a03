"""Checksum and structure validators for candidate spans.

The scanner finds things that *look* like identifiers; these functions decide whether they
*are*.  Checksums (Luhn, mod 97, the national algorithms in python-stdnum) are what keeps the
false-positive rate low on order numbers, versions and other ordinary digits.
All functions are pure, take the candidate string and never raise on bad input.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.de import idnr as _de_idnr
from stdnum.es import dni as _es_dni
from stdnum.es import nie as _es_nie
from stdnum.fr import nir as _fr_nir
from stdnum.it import codicefiscale as _it_cf
from stdnum.nl import bsn as _nl_bsn
from stdnum.pl import pesel as _pl_pesel
from stdnum.us import ssn as _us_ssn

#: Regions tried for phone numbers written without a country code: the supported locales.
PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PL")


def digits_of(value: str) -> str:
    """Only the ASCII digits of ``value``; separators in numbers vary by country."""
    return "".join(c for c in value if "0" <= c <= "9")


def _safe(check: Callable[[str], bool], value: str) -> bool:
    """Run a python-stdnum style validator, treating any exception as 'not valid'."""
    try:
        return bool(check(value))
    except Exception:  # noqa: BLE001 - stdnum raises several types; all mean "invalid"
        return False


def is_luhn_card(value: str) -> bool:
    """A payment card number: 12-19 digits, a plausible issuer prefix and a valid Luhn digit.

    Issuer prefixes 1-6 cover UATP, Amex, Diners, JCB, Visa, Mastercard, Maestro, Discover;
    a leading 0 or 7-9 is a phone, account or reference number far more often than a card.
    """
    d = digits_of(value)
    if not 12 <= len(d) <= 19 or d[0] not in "123456":
        return False
    if len(set(d)) == 1:
        return False
    return _safe(_luhn.is_valid, d)


def iban_mod97(compact: str) -> bool:
    """The ISO 13616 mod-97 check alone, on an upper-case IBAN without spaces.

    Cheap (no table look-ups), so it filters candidates before the full validation.
    """
    if len(compact) < 15 or not compact.isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    acc = 0
    for c in rearranged:
        v = ord(c) - 48 if c <= "9" else ord(c) - 55
        if not 0 <= v <= 35:
            return False
        acc = (acc * (100 if v > 9 else 10) + v) % 97
    return acc == 1


#: IBAN length per country (ISO 13616 registry).  Checked here rather than through
#: python-stdnum's database look-up, which costs more than the whole rest of the scan.
IBAN_LENGTHS: dict[str, int] = {
    cc: int(n)
    for cc, n in (
        item.split(":")
        for item in """AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28
        CH:21 CR:22 CY:28 CZ:24 DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18
        FR:27 GB:22 GE:22 GI:23 GL:18 GR:27 GT:28 HR:21 HU:28 IE:22 IL:23 IQ:23 IS:26 IT:27
        JO:30 KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 MD:24 ME:22 MK:19
        MN:20 MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28 PS:29 PT:25 QA:29 RO:24
        RS:22 RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 SK:24 SM:27 SO:23 ST:25 SV:28 TL:23 TN:24
        TR:26 UA:29 VA:22 VG:24 XK:20 YE:30""".split()
    )
}


def is_iban(value: str) -> bool:
    """An IBAN: the mod-97 check, then the country's length and format (python-stdnum).

    National check digits inside the account part are not required: ISO 13616 does not
    require them and test or example IBANs often lack them, yet still point at a person.
    """
    compact = value.replace(" ", "").upper()
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None:
        return iban_mod97(compact) and _safe(
            lambda v: _iban.is_valid(v, check_country=False), compact
        )
    return len(compact) == expected and compact[2:4].isdigit() and iban_mod97(compact)


def is_ip(value: str) -> str:
    """``"ipv4"``/``"ipv6"`` when ``value`` is an address worth reporting, else ``""``.

    Unspecified and loopback addresses identify nobody, so they are not reported.
    """
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return ""
    if addr.is_unspecified or addr.is_loopback:
        return ""
    return "ipv4" if addr.version == 4 else "ipv6"


#: Usual digit counts of national numbers (with trunk prefix) per region, to order attempts.
_USUAL_LENGTHS: dict[str, tuple[int, ...]] = {
    "US": (10,), "GB": (11, 10), "DE": (10, 11, 9, 12), "FR": (10,), "ES": (9,),
    "IT": (10, 9, 11), "NL": (10,), "PL": (9,),
}


def phone_kind(value: str, regions: tuple[str, ...] = PHONE_REGIONS) -> str:
    """The region code for which ``value`` is a valid phone number, else ``""``.

    Numbers with a ``+`` are parsed internationally; others are tried in each supported
    region, because a chat message rarely says which country a local number belongs to.
    """
    raw = value.strip()
    main = re.split(r"[ ]?(?:x|ext\.?|#)", raw, maxsplit=1)[0]
    nd = len(digits_of(main))
    # E.164 allows 15 digits with the country code; national formats of the supported
    # countries stay within 13 with the trunk prefix.  Longer runs are not phone numbers.
    if not 6 <= nd <= (15 if raw.startswith("+") else 13):
        return ""
    candidates: tuple[str | None, ...]
    if raw.startswith("+"):
        candidates = (None,)
    else:
        # A national number starting with 0 carries a trunk prefix (GB, DE, FR, IT, NL);
        # one without it is North American, Spanish, Italian mobile or Polish.
        digits = digits_of(main)
        trunk = ("GB", "DE", "FR", "IT", "NL")
        candidates = tuple(r for r in regions if (r in trunk) == (digits[0] == "0") or r == "IT")
        # Try first the regions whose usual length matches: one parse instead of several.
        usual = _USUAL_LENGTHS
        candidates = tuple(sorted(candidates, key=lambda r: len(digits) not in usual.get(r, ())))
    for region in candidates:
        try:
            num = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return phonenumbers.region_code_for_number(num) or (region or "")
    return ""


def is_possible_phone(value: str, regions: tuple[str, ...] = PHONE_REGIONS) -> bool:
    """A number of a possible length for a phone number, even if its range is unassigned.

    Weaker than :func:`phone_kind`; the detector accepts it only where phone context or
    phone formatting (country code, parentheses, extension) says that it is a phone number.
    """
    raw = value.strip()
    main = re.split(r"[ ]?(?:x|ext\.?|#)", raw, maxsplit=1)[0]
    if not 7 <= len(digits_of(main)) <= 15:
        return False
    for region in ((None,) if raw.startswith("+") else regions):
        try:
            num = phonenumbers.parse(main, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(num):
            return True
    return False


def _is_nino(value: str) -> bool:
    """UK National Insurance number, strict HMRC rules on prefix and suffix letters."""
    v = value.replace(" ", "").upper()
    if len(v) != 9 or not (v[:2].isalpha() and v[2:8].isdigit() and v[8].isalpha()):
        return False
    if v[0] in "DFIQUV" or v[1] in "DFIOQUV":
        return False
    if v[:2] in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        return False
    return v[8] in "ABCD"


def is_nino_like(value: str) -> bool:
    """NINO-shaped (2 letters, 6 digits, 1 letter) but not necessarily issued.

    HMRC uses prefixes such as ``ZZ`` for placeholder and example numbers; they still carry
    personal meaning in forms, so the detector accepts them when ID context is present.
    """
    v = value.replace(" ", "").upper()
    return len(v) == 9 and v[:2].isalpha() and v[2:8].isdigit() and v[8].isalpha()


def _is_ssn(value: str) -> bool:
    """US SSN: no checksum exists, so the structural rules of the SSA are all we can check."""
    return _safe(_us_ssn.is_valid, value)


#: National identifiers tried on digit-only candidates: (kind, validator, digit counts).
DIGIT_IDS: tuple[tuple[str, Callable[[str], bool], tuple[int, ...]], ...] = (
    ("fr.nir", lambda v: _safe(_fr_nir.is_valid, v), (15,)),
    ("pl.pesel", lambda v: _safe(_pl_pesel.is_valid, v), (11,)),
    ("de.idnr", lambda v: _safe(_de_idnr.is_valid, v), (11,)),
    ("nl.bsn", lambda v: _safe(_nl_bsn.is_valid, v), (9,)),
)


def national_id_kind(value: str) -> str:
    """Which national identifier ``value`` is (e.g. ``"es.dni"``), or ``""``.

    Covers SSN (US), NINO (UK), Steuer-IdNr (DE), NIR (FR), DNI/NIE (ES), codice fiscale (IT),
    BSN (NL) and PESEL (PL).  Digit-only kinds are tried by length, alphanumeric ones by shape.
    """
    v = value.strip()
    compact = v.replace(" ", "").replace("-", "").replace(".", "").upper()
    if not compact:
        return ""
    if compact.isdigit():
        if len(compact) == 9 and "-" in v and _is_ssn(v):
            return "us.ssn"
        for kind, check, lengths in DIGIT_IDS:
            if len(compact) in lengths and check(compact):
                return kind
        return ""
    if len(compact) == 15 and compact[5:7] in {"2A", "2B"} and _safe(_fr_nir.is_valid, compact):
        return "fr.nir"
    if len(compact) == 16 and _safe(_it_cf.is_valid, compact):
        return "it.codicefiscale"
    if len(compact) == 9:
        if compact[0] in "XYZ" and _safe(_es_nie.is_valid, compact):
            return "es.nie"
        if compact[0].isdigit() and _safe(_es_dni.is_valid, compact):
            return "es.dni"
        if _is_nino(compact):
            return "gb.nino"
    return ""


@lru_cache(maxsize=1)
def _vat_modules() -> tuple[tuple[str, Callable[[str], bool]], ...]:
    """EU VAT number validators from python-stdnum, keyed by the VAT country prefix.

    Loaded lazily: importing every country module at import time would slow ``import``.
    """
    import importlib

    out = []
    for cc, mod in (
        ("AT", "at.uid"), ("BE", "be.vat"), ("DE", "de.vat"), ("DK", "dk.cvr"),
        ("ES", "es.nif"), ("FI", "fi.alv"), ("FR", "fr.tva"), ("IE", "ie.vat"),
        ("IT", "it.iva"), ("LU", "lu.tva"), ("NL", "nl.btw"), ("PL", "pl.nip"),
        ("PT", "pt.nif"), ("SE", "se.vat"), ("CZ", "cz.dic"), ("GB", "gb.vat"),
    ):
        m = importlib.import_module(f"stdnum.{mod}")
        out.append((cc, m.is_valid))
    return tuple(out)


def vat_kind(value: str) -> str:
    """``"vat.<cc>"`` when ``value`` is an EU (or UK) VAT number with its country prefix."""
    compact = value.replace(" ", "").replace(".", "").replace("-", "").upper()
    if len(compact) < 8 or not compact[:2].isalpha():
        return ""
    cc = compact[:2]
    for prefix, check in _vat_modules():
        if prefix == cc and _safe(check, compact):
            return f"vat.{cc.lower()}"
    return ""


def is_real_date(year: int, month: int, day: int) -> bool:
    """A calendar date between 1900 and 2100 -- birth dates and the like, not arbitrary numbers."""
    if not 1900 <= year <= 2100:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True
