"""The register's reference documentation and JSON Schema, generated from its models.

``python -m confida.register.reference`` writes ``docs/register.md`` (every field: its type, its
default, the GDPR article it serves, what it means and an example) and
``schemas/register.schema.json`` (the models' JSON Schema, for editors and CI), both from
:mod:`confida.register.models` and the ``gdpr``/``examples`` metadata of each field, so that the
documentation cannot drift from what the loader accepts. ``--check`` writes nothing and exits 1
when either file differs from what would be generated (``make register-docs`` regenerates them).
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from confida.register.duration import Duration
from confida.register.models import (
    ACTIONS,
    Category,
    Contact,
    Controller,
    FieldSpec,
    Kind,
    LegalBasis,
    Purpose,
    Register,
    Role,
    SpecialCategoryCondition,
    Transfer,
)

DOC = Path("docs/register.md")
SCHEMA = Path("schemas/register.schema.json")
REGENERATE = "make register-docs"

#: (section title, model, where it sits in the document, anchor)
SECTIONS: list[tuple[str, type[BaseModel], str, str]] = [
    ("The register (top level)", Register, "", "register"),
    ("Controller", Controller, "controller", "controller"),
    ("Contact", Contact, "controller.dpo, controller.representative, "
     "controller.supervisory_authority", "contact"),
    ("Category", Category, "categories.NAME", "category"),
    ("Kind", Kind, "kinds.NAME", "kind"),
    ("Field", FieldSpec, "kinds.NAME.fields.FIELD", "field"),
    ("Purpose", Purpose, "purposes.NAME", "purpose"),
    ("Transfer", Transfer, "purposes.NAME.transfers[]", "transfer"),
    ("Role", Role, "roles.NAME", "role"),
]
ANCHORS = {model: anchor for _t, model, _w, anchor in SECTIONS}

#: Metadata for fields whose model does not (yet) carry its own ``gdpr``/``examples``: the
#: field's own metadata wins as soon as it has some.
FALLBACK: dict[tuple[str, str], dict[str, Any]] = {
    ("Purpose", "egress"): {
        "gdpr": "Art. 5(1)(c), 25(1), 28, 44",
        "examples": [{"default": "tokenize", "CREDIT_CARD": "redact", "NATIONAL_ID": "redact"}],
    },
}


def field_meta(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The ``gdpr`` and ``examples`` of a field (its own, else the fallback above)."""
    extra = model.model_fields[name].json_schema_extra
    own = extra if isinstance(extra, dict) else {}
    if "gdpr" in own and "examples" in own:
        return own
    return {**FALLBACK.get((model.__name__, name), {}), **own}


# --- Markdown --------------------------------------------------------------------------------


def _type(ann: Any) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args if a is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_key(args[0])} to {_type(args[1])}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return f"[{ann.__name__}](#{ANCHORS.get(ann, ann.__name__.lower())})"
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return f"[{ann.__name__}](#{ann.__name__.lower()})"
    if ann is Duration:
        return "[duration](#durations)"
    return {str: "text", int: "integer", bool: "boolean", float: "number"}.get(ann, "any")


def _key(ann: Any) -> str:
    if typing.get_origin(ann) is typing.Annotated:
        return "name"
    return "text"


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return "none"
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _example(name: str, value: Any) -> str:
    flow = None if isinstance(value, dict | list) else False
    text = yaml.safe_dump({name: value}, sort_keys=False, allow_unicode=True, width=90,
                          default_flow_style=flow)
    return "```yaml\n" + text + "```"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _section(title: str, model: type[BaseModel], where: str, anchor: str) -> list[str]:
    doc = (model.__doc__ or "").strip()
    out = [f'<a id="{anchor}"></a>', "", f"## {title}", ""]
    if where:
        out += [f"Where: `{where}`.", ""]
    if doc and model is not Register:
        out += [" ".join(doc.split()), ""]
    out += ["| field | type | default | GDPR |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        meta = field_meta(model, name)
        out.append(f"| [`{name}`](#{anchor}-{name.replace('_', '-')}) | "
                   f"{_cell(_type(info.annotation))} "
                   f"| {_default(info)} | {_cell(meta.get('gdpr', '—'))} |")
    out.append("")
    for name, info in model.model_fields.items():
        meta = field_meta(model, name)
        out += [f'<a id="{anchor}-{name.replace("_", "-")}"></a>', "", f"### `{name}`", ""]
        text = " ".join((info.description or "").split()) or "—"
        default = "Required" if info.is_required() else f"Default: {_default(info)}"
        out.append(f"{text[:1].upper()}{text[1:]}. GDPR: {meta.get('gdpr', '—')}. {default}.")
        out.append("")
        examples = meta.get("examples") or []
        if examples:
            out += [_example(name, examples[0]), ""]
    return out


def _enum_section(title: str, anchor: str, rows: list[tuple[str, str]], intro: str) -> list[str]:
    out = [f'<a id="{anchor}"></a>', "", f"## {title}", "", intro, "",
           "| value | GDPR |", "|---|---|"]
    out += [f"| `{v}` | {a} |" for v, a in rows]
    return out + [""]


def render_markdown() -> str:
    lines = [
        "# The processing register: reference",
        "",
        "<!-- Generated from src/confida/register/models.py by "
        "`python -m confida.register.reference`; do not edit by hand: run "
        f"`{REGENERATE}`. -->",
        "",
        "The register (`confida-data/register.yaml`; sample: "
        "[`examples/chat-assistant.yaml`](../examples/chat-assistant.yaml)) declares what is "
        "collected, why, on which legal basis, for how long and for whom. Enforcement, the "
        "privacy notice (Art. 13) and the record of processing (Art. 30) are all derived from "
        "it. `confida register validate [FILE]` checks a file and reports every problem at "
        "once, each with its line and path; `confida register diff OLD NEW` says what a change "
        "means for people, and `confida register apply NEW` installs one.",
        "",
        "Editors that speak the YAML language server validate and complete the file against "
        "[`schemas/register.schema.json`](../schemas/register.schema.json) when its first line "
        "names it:",
        "",
        "```yaml",
        "# yaml-language-server: $schema=../schemas/register.schema.json",
        "```",
        "",
        "The path is relative to the register file (the one above fits the sample in "
        "`examples/` and a `confida-data/` directory at the top of this repository); an "
        "absolute path or a URL to the schema works from anywhere. The schema checks fields "
        "and types; the rules between them (a purpose naming an undeclared category, a consent "
        "basis without `consent_required`) are checked by `confida register validate`.",
        "",
        "Contents: " + ", ".join(f"[{t}](#{a})" for t, _m, _w, a in SECTIONS)
        + ", [durations](#durations), [LegalBasis](#legalbasis), "
        "[SpecialCategoryCondition](#specialcategorycondition), "
        "[changing the register](#changing), [actions](#actions).",
        "",
    ]
    for title, model, where, anchor in SECTIONS:
        lines += _section(title, model, where, anchor)
    lines += [
        '<a id="durations"></a>', "", "## Durations", "",
        "Retention periods are text: `30 days`, `6 months`, `2y`, `1 year 2 months`, `12h`, or "
        "ISO 8601 (`P30D`, `P1Y6M`, `PT12H`). Months and years are calendar months (a month is "
        "not 30 days). A bare number is refused: write its unit. Serves Art. 5(1)(e).", "",
    ]
    lines += _enum_section(
        "LegalBasis", "legalbasis",
        [(b.value, b.article) for b in LegalBasis],
        "`purposes.NAME.legal_basis`: the lawful basis of the processing (Art. 6(1)(a)-(f)). "
        "`consent` goes with `consent_required: true`; `legitimate_interests` with "
        "`legitimate_interest`.")
    lines += _enum_section(
        "SpecialCategoryCondition", "specialcategorycondition",
        [(c.value, c.article) for c in SpecialCategoryCondition],
        "`purposes.NAME.special_category_condition`: the condition of Art. 9(2)(a)-(j) under "
        "which a purpose processes special categories (`categories.NAME.special: true`). "
        "`confida compliance check` fails for a purpose that uses a special category without "
        "one; the notice and the record of processing state it. `explicit_consent` on a purpose "
        "whose legal basis is not `consent` is explicit consent collected by the service itself "
        "(e.g. at sign-up): Confida's consent ledger records consent to consent-based purposes "
        "only.")
    lines += [
        '<a id="changing"></a>', "", "## Changing the register", "",
        "`confida register diff OLD NEW` says what a change means for people: new or ended "
        "purposes, a purpose that now asks for consent (or no longer does), data kept longer "
        "or shorter, new recipients and transfers, new categories, kinds and fields, each "
        "marked `+` (more processing), `-` (less) or `~` (changed); staff-only changes (roles) "
        "are listed apart. `--json` gives the same as data.",
        "",
        "`confida register apply NEW` validates NEW (every problem at once, exit 2), then, as "
        "one audited operation (role action `register`): records the change in "
        "`register-history/NNNNNN.json` in the data dir (the new text, its hash, the new "
        "privacy notice version and the one before, the changes), installs the file (written "
        "to a temporary file, fsynced, renamed into place) and asks people again where their "
        "consent no longer covers what is done:",
        "",
        "- a purpose turned consent-based: everyone with data collected for it;",
        "- a consent-based purpose widened (more categories, kinds or fields, longer "
        "retention, new recipients or transfers, automated decisions, reuse of other "
        "purposes' data): everyone whose consent to it was in force.",
        "",
        "They are asked on the privacy center's overview page until they answer (a grant or a "
        "withdrawal recorded after the change). A new consent-based purpose is not asked "
        "about: it is off until switched on. A running `confida serve` enforces the new "
        "register once restarted. If `apply` is interrupted after the history entry is "
        "written, the entry is not in force until the file is installed: run the same "
        "`apply` again.",
        "",
        '<a id="actions"></a>', "", "## Actions", "",
        "`roles.NAME.actions`: " + ", ".join(f"`{a}`" for a in ACTIONS) + ", or `*` for all. "
        "The CLI acts as the role `admin`, and the staff console admits roles that may "
        "`requests`: `confida register validate` warns when a register lacks them.", "",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- JSON Schema -----------------------------------------------------------------------------


def _annotate(node: Any) -> None:
    """Append each property's GDPR article to its description (editors show it on hover)."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for prop in props.values():
                if isinstance(prop, dict) and prop.get("gdpr") and prop.get("description"):
                    prop["description"] = f"{prop['description']} [GDPR {prop['gdpr']}]"
        for v in node.values():
            _annotate(v)
    elif isinstance(node, list):
        for v in node:
            _annotate(v)


def _key_pattern(ann: Any) -> str | None:
    """The name pattern of a map's keys (``dict[Annotated[str, Field(pattern=...)], X]``)."""
    if typing.get_origin(ann) is not dict:
        return None
    key = typing.get_args(ann)[0]
    for meta in typing.get_args(key)[1:] if typing.get_origin(key) is typing.Annotated else ():
        for m in getattr(meta, "metadata", ()):
            if getattr(m, "pattern", None):
                return str(m.pattern)
    return None


def json_schema() -> dict[str, Any]:
    schema = Register.model_json_schema()
    # pydantic leaves the keys of a map unchecked; the names of categories, kinds, purposes,
    # roles and fields have a pattern the loader enforces, so the schema says it too.
    for _t, model, _w, _a in SECTIONS:
        node = schema if model is Register else schema["$defs"][model.__name__]
        for name, info in model.model_fields.items():
            pattern = _key_pattern(info.annotation)
            if pattern:
                node["properties"][name]["propertyNames"] = {"pattern": pattern}
    for (model, name), meta in FALLBACK.items():
        prop = schema.get("$defs", {}).get(model, {}).get("properties", {}).get(name)
        if prop is not None:
            for k, v in meta.items():
                prop.setdefault(k, v)
    _annotate(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Confida processing register",
        "description": "The processing register of a Confida installation (register.yaml). "
                       "Generated from src/confida/register/models.py: run "
                       f"`{REGENERATE}`; reference: docs/register.md.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def render_schema() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --- command ---------------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    return {DOC: render_markdown(), SCHEMA: render_schema()}


def stale(root: Path) -> list[Path]:
    """The generated files under ``root`` that differ from what the models generate."""
    out = []
    for rel, text in outputs().items():
        p = root / rel
        if not p.is_file() or p.read_text("utf-8") != text:
            out.append(rel)
    return out


def default_root() -> Path:
    return Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m confida.register.reference",
                                 description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a generated file is out of date")
    ap.add_argument("--root", type=Path, default=None,
                    help="the repository (default: the checkout this module is in)")
    args = ap.parse_args(argv)
    root = args.root or default_root()
    if not (root / "pyproject.toml").is_file():
        print(f"{root} is not the Confida repository; pass --root", file=sys.stderr)
        return 2
    if args.check:
        bad = stale(root)
        for rel in bad:
            print(f"{rel} is out of date with src/confida/register/models.py: run "
                  f"`{REGENERATE}`", file=sys.stderr)
        return 1 if bad else 0
    from confida.safe_files import write_text

    for rel, text in outputs().items():
        write_text(root / rel, text, force=True, private=False)
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
