"""What a change of register means for people: the difference between two registers.

A register change is a change of what is done with people's data. The difference is stated in
their terms: a new purpose, a purpose that now asks for consent (or no longer does), data kept
longer, new recipients or transfers abroad, new categories or fields. Each change says whether it
means more processing (``more``), less (``less``), or something else people should be told
(``changed``); changes that concern only staff (roles) are ``staff``.

A consent is given to a purpose as it was described. Where a consent-based purpose is widened
(more data, longer, more recipients, a transfer, automated decisions, reuse of other data), or a
purpose turns consent-based, the people concerned must be asked again:
:attr:`RegisterDiff.reconsent` names those purposes and why (``confida.register_change`` asks
them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from confida.register.models import Purpose, Register

MORE, LESS, CHANGED, STAFF = "more", "less", "changed", "staff"
#: Why the subjects of a purpose are asked again.
NOW_CONSENT = "now-consent"  # the purpose turned consent-based: nobody has consented yet
WIDENED = "widened"  # a consent-based purpose does more than what people agreed to

#: Fields of a purpose compared one by one below; any other field that differs is reported as
#: a plain change, so that a field added to the model later is never silently left out.
_PURPOSE_COMPARED = {
    "description", "legal_basis", "consent_required", "legitimate_interest", "categories",
    "kinds", "retention", "recipients", "transfers", "automated_decision_making",
    "consent_prompt", "compatible_with", "special_category_condition",
}


@dataclass(frozen=True)
class Change:
    path: str  # where in the register, e.g. purposes.billing.retention
    text: str  # what changes, in one sentence
    effect: str  # MORE | LESS | CHANGED | STAFF
    purposes: tuple[str, ...] = ()  # the purposes whose processing it changes
    widens: bool = False  # a consent-based purpose does more than it did

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["purposes"] = list(self.purposes)
        return d


@dataclass
class RegisterDiff:
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)
    reconsent: dict[str, str] = field(default_factory=dict)  # purpose -> NOW_CONSENT | WIDENED

    @property
    def for_people(self) -> list[Change]:
        return [c for c in self.changes if c.effect != STAFF]

    @property
    def unchanged(self) -> bool:
        return self.old_version == self.new_version

    def reasons(self, purpose: str) -> list[str]:
        """The changes that make the subjects of ``purpose`` be asked again."""
        if self.reconsent.get(purpose) == NOW_CONSENT:
            return [c.text for c in self.changes
                    if purpose in c.purposes and c.path.endswith(".consent_required")]
        return [c.text for c in self.changes if purpose in c.purposes and c.widens]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.old_version, "to": self.new_version, "unchanged": self.unchanged,
            "changes": [c.as_dict() for c in self.changes],
            "reconsent": [{"purpose": p, "reason": r, "changes": self.reasons(p)}
                          for p, r in self.reconsent.items()],
        }


def _names(items: Iterable[str]) -> str:
    return ", ".join(items)


def _added(old: Iterable[Any], new: Iterable[Any]) -> list[Any]:
    before = list(old)
    return [x for x in new if x not in before]


def _transfer(t: Any) -> str:
    return f"{t.recipient or 'a recipient'} in {t.country} ({t.safeguard})"


def _reaches(reg: Register, name: str) -> set[tuple[str, str]]:
    """(kind, field) pairs a purpose may receive: fields of its kinds in its categories."""
    p = reg.purposes[name]
    cats = set(p.categories)
    return {(k, f) for k in p.kinds if k in reg.kinds
            for f, spec in reg.kinds[k].fields.items() if spec.category in cats}


def _purpose_changes(name: str, old: Purpose, new: Purpose, old_reg: Register,
                     new_reg: Register) -> list[Change]:
    at = f"purposes.{name}"
    out: list[Change] = []
    consent = new.consent_required and old.consent_required

    def add(path: str, text: str, effect: str) -> None:
        out.append(Change(f"{at}.{path}" if path else at, text, effect, (name,),
                          widens=consent and effect == MORE))

    if new.consent_required and not old.consent_required:
        add("consent_required", f"'{name}' now asks for consent (it was based on "
            f"{old.legal_basis.value}): nothing is done for it without a person's yes", MORE)
    elif old.consent_required and not new.consent_required:
        add("consent_required", f"'{name}' no longer asks for consent: it is now based on "
            f"{new.legal_basis.value}; data given under consent cannot be kept on another basis "
            "without telling people (and consent cannot be swapped for another basis after "
            "the fact)", MORE)
    elif old.legal_basis is not new.legal_basis:
        add("legal_basis", f"'{name}' changes its legal basis from {old.legal_basis.value} to "
            f"{new.legal_basis.value}", CHANGED)
    r_old, r_new = old.retention, new.retention
    if r_old != r_new:
        longer = r_new.approx_days() > r_old.approx_days()
        add("retention", f"'{name}' keeps data {'longer' if longer else 'shorter'}: {r_old} → "
            f"{r_new}", MORE if longer else LESS)
    for key, what in (("categories", "category"), ("kinds", "kind of record")):
        plus = _added(getattr(old, key), getattr(new, key))
        minus = _added(getattr(new, key), getattr(old, key))
        if plus:
            special = [c for c in plus if key == "categories" and c in new_reg.categories
                       and new_reg.categories[c].special]
            note = f" (special categor{'y' if len(special) == 1 else 'ies'}: " \
                   f"{_names(special)})" if special else ""
            add(key, f"'{name}' may now use the {what}{'s' if len(plus) > 1 else ''} "
                f"{_names(plus)}{note}", MORE)
        if minus:
            add(key, f"'{name}' no longer uses the {what}{'s' if len(minus) > 1 else ''} "
                f"{_names(minus)}", LESS)
    # fields that existed and now reach this purpose (a field moved into one of its categories;
    # new fields of a kind are reported with the kind)
    fields = sorted((k, f) for k, f in _reaches(new_reg, name) - _reaches(old_reg, name)
                    if k in old_reg.kinds and f in old_reg.kinds[k].fields)
    if fields and not _added(old.categories, new.categories) and not _added(old.kinds, new.kinds):
        add("kinds", f"'{name}' now receives the field{'s' if len(fields) > 1 else ''} "
            f"{_names(f'{k}.{f}' for k, f in fields)}", MORE)
    plus, minus = _added(old.recipients, new.recipients), _added(new.recipients, old.recipients)
    if plus:
        add("recipients", f"'{name}' has new recipients: {_names(plus)}", MORE)
    if minus:
        add("recipients", f"'{name}' no longer shares with: {_names(minus)}", LESS)
    plus, minus = _added(old.transfers, new.transfers), _added(new.transfers, old.transfers)
    if plus:
        add("transfers", f"'{name}' transfers data outside the EU/EEA: "
            f"{_names(_transfer(t) for t in plus)}", MORE)
    if minus:
        add("transfers", f"'{name}' no longer transfers data to "
            f"{_names(_transfer(t) for t in minus)}", LESS)
    if new.automated_decision_making != old.automated_decision_making:
        on = new.automated_decision_making
        add("automated_decision_making", f"'{name}' {'now takes' if on else 'no longer takes'} "
            "automated decisions with legal or similar effects (Art. 22)", MORE if on else LESS)
    plus = _added(old.compatible_with, new.compatible_with)
    minus = _added(new.compatible_with, old.compatible_with)
    if plus:
        add("compatible_with", f"'{name}' now also uses data collected for "
            f"{_names(plus)} (Art. 6(4))", MORE)
    if minus:
        add("compatible_with", f"'{name}' no longer uses data collected for {_names(minus)}",
            LESS)
    c_old, c_new = old.special_category_condition, new.special_category_condition
    if c_old != c_new:
        now = f"{c_new.article} ({c_new.value})" if c_new else "no declared condition"
        was = c_old.value if c_old else "none"
        add("special_category_condition", f"'{name}' processes special categories under {now} "
            f"(was {was})", CHANGED)
    for key in ("description", "consent_prompt", "legitimate_interest"):
        if key == "legitimate_interest" and old.legal_basis is not new.legal_basis:
            continue  # goes with the change of basis above
        if getattr(old, key) != getattr(new, key):
            add(key, f"'{name}' is described differently ({key.replace('_', ' ')}); check "
                "that the new wording does not promise something else", CHANGED)
    o, n = old.model_dump(mode="json"), new.model_dump(mode="json")
    for key in sorted(set(o) | set(n)):
        if key not in _PURPOSE_COMPARED and o.get(key) != n.get(key):
            add(key, f"'{name}' changes its {key.replace('_', ' ')}", CHANGED)
    return out


def _kind_changes(old: Register, new: Register) -> list[Change]:
    out: list[Change] = []

    def users(reg: Register, kind: str, category: str | None = None) -> tuple[str, ...]:
        return tuple(n for n, p in reg.purposes.items() if kind in p.kinds
                     and (category is None or category in p.categories))

    for kname in _added(old.kinds, new.kinds):
        out.append(Change(f"kinds.{kname}", f"a new kind of record is stored: {kname} "
                          f"({new.kinds[kname].description})", MORE, users(new, kname)))
    for kname in _added(new.kinds, old.kinds):
        out.append(Change(f"kinds.{kname}", f"records of kind {kname} are no longer stored",
                          LESS, users(old, kname)))
    for kname in [k for k in new.kinds if k in old.kinds]:
        ko, kn = old.kinds[kname], new.kinds[kname]
        at = f"kinds.{kname}"
        for f in _added(ko.fields, kn.fields):
            cat = kn.fields[f].category
            out.append(Change(f"{at}.fields.{f}", f"records of kind {kname} may now hold {f} "
                              f"({cat})", MORE, users(new, kname, cat)))
        for f in _added(kn.fields, ko.fields):
            out.append(Change(f"{at}.fields.{f}", f"records of kind {kname} no longer hold {f}",
                              LESS, users(old, kname, ko.fields[f].category)))
        for f in [f for f in kn.fields if f in ko.fields]:
            so, sn = ko.fields[f], kn.fields[f]
            if so.category != sn.category:
                out.append(Change(f"{at}.fields.{f}.category", f"{kname}.{f} is now of "
                                  f"category {sn.category} (was {so.category})", CHANGED,
                                  users(new, kname, sn.category)))
            elif so != sn:
                out.append(Change(f"{at}.fields.{f}", f"{kname}.{f} is handled differently "
                                  "(type, scanning or limits)", CHANGED, users(new, kname)))
        if ko.retention != kn.retention:
            o = ko.retention.approx_days() if ko.retention else float("inf")
            n = kn.retention.approx_days() if kn.retention else float("inf")
            out.append(Change(f"{at}.retention", f"records of kind {kname} are kept at most "
                              f"{kn.retention or 'as long as their purpose allows'} (was "
                              f"{ko.retention or 'no cap'})", MORE if n > o else LESS,
                              users(new, kname)))
        if (ko.anonymization, ko.quasi_identifiers) != (kn.anonymization, kn.quasi_identifiers):
            out.append(Change(at, f"data of kind {kname} is anonymised differently when it "
                              "leaves the vault", CHANGED, users(new, kname)))
        if ko.description != kn.description:
            out.append(Change(f"{at}.description", f"kind {kname} is described differently",
                              CHANGED, users(new, kname)))
    return out


def _category_changes(old: Register, new: Register) -> list[Change]:
    out = []
    for c in _added(old.categories, new.categories):
        special = " (a special category, Art. 9)" if new.categories[c].special else ""
        out.append(Change(f"categories.{c}", f"a new category of data is declared: {c}"
                          f"{special}", MORE))
    for c in _added(new.categories, old.categories):
        out.append(Change(f"categories.{c}", f"the category {c} is no longer declared", LESS))
    for c in [c for c in new.categories if c in old.categories]:
        co, cn = old.categories[c], new.categories[c]
        users = tuple(n for n, p in new.purposes.items() if c in p.categories)
        if co.special != cn.special:
            now = "now" if cn.special else "no longer"
            out.append(Change(f"categories.{c}.special", f"{c} is {now} a special category "
                              "(Art. 9)", CHANGED, users))
        if co.personal != cn.personal:
            now = "now" if cn.personal else "no longer"
            out.append(Change(f"categories.{c}.personal", f"{c} is {now} counted as personal "
                              "data", CHANGED, users))
        if co.description != cn.description:
            out.append(Change(f"categories.{c}.description", f"the category {c} is described "
                              "differently", CHANGED, users))
    return out


def diff_registers(old: Register, new: Register) -> RegisterDiff:
    """What changes for people (and for staff) from ``old`` to ``new``."""
    d = RegisterDiff(old.content_hash(), new.content_hash())
    if old.controller != new.controller:
        d.changes.append(Change("controller", "the controller's identity or contact details "
                                "change (shown in the notice)", CHANGED))
    for name in _added(old.purposes, new.purposes):
        p = new.purposes[name]
        how = "asks for consent" if p.consent_required else f"is based on {p.legal_basis.value}"
        d.changes.append(Change(f"purposes.{name}", f"a new purpose '{name}' ({how}): "
                                f"{' '.join(p.description.split())}", MORE, (name,)))
    for name in _added(new.purposes, old.purposes):
        d.changes.append(Change(f"purposes.{name}", f"the purpose '{name}' ends", LESS, (name,)))
    for name in [n for n in new.purposes if n in old.purposes]:
        d.changes += _purpose_changes(name, old.purposes[name], new.purposes[name], old, new)
    d.changes += _kind_changes(old, new)
    d.changes += _category_changes(old, new)
    if old.notice != new.notice:
        d.changes.append(Change("notice", "the notice's own text changes", CHANGED))
    for rname in sorted(set(old.roles) | set(new.roles)):
        ro, rn = old.roles.get(rname), new.roles.get(rname)
        if ro != rn:
            what = "added" if ro is None else "removed" if rn is None else "changed"
            d.changes.append(Change(f"roles.{rname}", f"staff role {rname} {what}", STAFF))
    # who must be asked again
    for name, p in new.purposes.items():
        if not p.consent_required or name not in old.purposes:
            continue
        if not old.purposes[name].consent_required:
            d.reconsent[name] = NOW_CONSENT
            continue
        widened = any(c.effect == MORE and name in c.purposes for c in d.changes
                      if c.path.startswith(("kinds.", "categories.")))
        if widened or any(c.widens and name in c.purposes for c in d.changes):
            d.reconsent[name] = WIDENED
    # a kind's new field or longer cap widens a consent-based purpose too: mark it so
    d.changes = [
        Change(c.path, c.text, c.effect, c.purposes, True)
        if not c.widens and c.effect == MORE and any(d.reconsent.get(p) == WIDENED
                                                     for p in c.purposes) else c
        for c in d.changes
    ]
    return d
