"""The privacy notice (Art. 13 GDPR), rendered from the processing register.

The notice is generated from the same declarations the engine enforces, so what it promises is
what the system does. Its *version* is a hash of the rendered canonical text (English Markdown):
any change a reader could notice changes the version, and consents record the version they were
given against (``Vault.notice_version`` calls :func:`notice_version`). Other languages are
translations of the same content and carry the same version.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from confida.errors import BadInput
from confida.register.models import LegalBasis, Register, localized
from confida.transparency.i18n import LANGUAGES, article, period, strings

FORMATS = ("md", "html")
CANONICAL = ("md", "en")
# How long a backup can still open an erased person's data: the KEK retirement window
# (``kek_retire_after``; retired KEK versions are destroyed after it). 30 days unless configured.
DEFAULT_BACKUP_DAYS = 30


def backup_days(config: Any) -> int:
    """The KEK retirement window of ``config`` in whole days (``kek_retire_after``, read
    defensively: a number of days, a duration such as ``30d`` or ``P30D``; default 30)."""
    from confida.register.duration import Duration

    value = getattr(config, "kek_retire_after", None)
    if value is None or value == "":
        return DEFAULT_BACKUP_DAYS
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(1, int(value))
    if hasattr(value, "approx_days"):
        return max(1, round(value.approx_days()))
    if hasattr(value, "total_seconds"):
        return max(1, round(value.total_seconds() / 86400))
    try:
        return max(1, round(Duration.parse(str(value)).approx_days()))
    except ValueError:
        return DEFAULT_BACKUP_DAYS


@functools.cache
def _env() -> Environment:
    """One compiled environment per process (immutable after creation, safe across threads)."""
    # Autoescape on for HTML: register text is data, never markup. Markdown output escapes the
    # characters that would otherwise turn register text into links or emphasis.
    env = Environment(
        loader=PackageLoader("confida.transparency", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["mdesc"] = md_escape
    return env


def md_escape(value: object) -> str:
    """Escape Markdown syntax in register text (it is content, not formatting)."""
    text = " ".join(str(value).split())
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text


@dataclass(frozen=True)
class Notice:
    text: str
    version: str
    format: str
    lang: str


def _basis_key(basis: LegalBasis) -> str:
    return f"basis_{basis.value}"


def _in(model: Any, lang: str) -> dict[str, Any]:
    """A register model's fields as plain data, its texts in ``lang`` (English when the
    register gives no translation), nested models likewise."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            value = _in(value, lang)
        elif isinstance(value, list):
            value = [localized(v, lang) for v in value]
        else:
            value = localized(value, lang)
        out[name] = value
    return out


def notice_context(
    register: Register, lang: str = "en", backup_days: int = DEFAULT_BACKUP_DAYS
) -> dict[str, Any]:
    """Everything the notice says, as plain data (also used by tests field by field)."""
    t = strings(lang)
    c = register.controller
    purposes = []
    for name, p in register.purposes.items():
        cond = p.special_category_condition if any(
            register.categories[c].special for c in p.categories) else None
        cats = [
            {
                "name": cat,
                "description": localized(register.categories[cat].description, lang),
                "special": register.categories[cat].special,
            }
            for cat in p.categories
            if register.categories[cat].personal
        ]
        kind_caps = [
            {"kind": k, "description": localized(register.kinds[k].description, lang),
             "retention": period(register.kinds[k].retention, lang)}
            for k in p.kinds
            if register.kinds[k].retention is not None
            and register.kinds[k].retention.approx_days() < p.retention.approx_days()
        ]
        purposes.append(
            {
                "name": name,
                "description": localized(p.description, lang),
                "legal_basis": p.legal_basis.value,
                "legal_basis_text": t[_basis_key(p.legal_basis)],
                "article": article(p.legal_basis.article, lang),
                "legitimate_interest": localized(p.legitimate_interest, lang),
                "consent": p.consent_required,
                "consent_prompt": localized(p.consent_prompt, lang),
                "categories": cats,
                "recipients": [localized(r, lang) for r in p.recipients],
                "transfers": [_in(tr, lang) for tr in p.transfers],
                "retention": period(p.retention, lang),
                "kind_caps": kind_caps,
                "automated": p.automated_decision_making,
                # Art. 9(2): the condition under which its special categories are processed
                "special_condition": t[f"cond_{cond.value}"] if cond else None,
                "special_article": article(cond.article, lang) if cond else None,
                "requirement": t[f"requirement_{p.legal_basis.value}"],
            }
        )
    extra = register.notice or {}
    how = _text_in(extra.get("how_to_exercise"), lang) or t["how_default"].format(
        email=c.dpo.email if c.dpo and c.dpo.email else c.email or c.name
    )
    return {
        "t": t,
        "lang": lang,
        "controller": {"phone": None, **_in(c, lang)},
        "purposes": purposes,
        "transfers": [
            {"purpose": pp["name"], **tr} for pp in purposes for tr in pp["transfers"]
        ],
        "any_consent": any(pp["consent"] for pp in purposes),
        "any_automated": any(pp["automated"] for pp in purposes),
        "rights": [
            {"key": k, "title": t[f"right_{k}"], "article": a,
             "text": t[f"right_{k}_text"] + (
                 " " + t["erasure_backups"].format(days=backup_days) if k == "erasure" else "")}
            for k, a in (
                ("access", "Art. 15"), ("rectification", "Art. 16"), ("erasure", "Art. 17"),
                ("restriction", "Art. 18"), ("portability", "Art. 20"), ("object", "Art. 21"),
            )
        ],
        "how_to_exercise": how,
        "privacy_center": extra.get("privacy_center_url"),
    }


def _text_in(value: Any, lang: str) -> Any:
    """Free notice text (``notice.how_to_exercise``): a string, or one per language."""
    if isinstance(value, dict):
        return value.get(lang) or value.get("en") or next(iter(value.values()), None)
    return value


def _render(register: Register, fmt: str, lang: str, version: str | None,
            backup_days: int = DEFAULT_BACKUP_DAYS) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"notice format must be one of {', '.join(FORMATS)}")
    if lang not in LANGUAGES:
        raise BadInput(f"notice language must be one of {', '.join(LANGUAGES)}")
    ctx = notice_context(register, lang, backup_days)
    return _env().get_template(f"notice.{fmt}.j2").render(**ctx, version=version)


def notice_version(register: Register, backup_days: int = DEFAULT_BACKUP_DAYS) -> str:
    """Content hash of the canonical notice (English Markdown, without its version line)."""
    body = _render(register, *CANONICAL, version=None, backup_days=backup_days)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def render_notice(
    register: Register, fmt: str = "md", lang: str = "en",
    backup_days: int = DEFAULT_BACKUP_DAYS,
) -> Notice:
    version = notice_version(register, backup_days)
    return Notice(_render(register, fmt, lang, version, backup_days), version, fmt, lang)
