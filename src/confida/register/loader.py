"""Loading the register from YAML with errors a person can act on.

Every problem is reported at once, each with the file, the line in the YAML and the path inside
the document (``purposes.model_training.retention``), because a DPO editing YAML should fix the
whole file in one pass, not one error per run, and should not have to read a pydantic traceback.

The YAML is composed into nodes first (which keep their line numbers), then constructed; field
errors come from the pydantic models, and the rules between fields and sections (a purpose naming
an undeclared category, consent basis without ``consent_required``) run on the document as it
is, so that they are reported even where some fields are wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from confida.errors import InvalidRegister
from confida.register.advice import register_warnings
from confida.register.models import RULE_ERROR, DocPath, Register, reference_problems

MAX_REGISTER_BYTES = 2 * 1024 * 1024
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One problem (or warning) of a register file, where it is."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


@dataclass
class RegisterCheck:
    """The outcome of checking a register file: the register when valid, every problem found,
    and warnings about a valid one (:mod:`confida.register.advice`)."""

    source: str
    register: Register | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.register is not None and not self.problems

    def raise_if_invalid(self) -> Register:
        if self.register is None or self.problems:
            raise InvalidRegister("\n".join(str(p) for p in self.problems)
                                  or f"{self.source}: invalid register")
        return self.register


class _Lines:
    """Line numbers (1-based) of every key and list item of a composed YAML document, and the
    keys given twice in one mapping (YAML forbids it; PyYAML silently keeps the last)."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.at: dict[tuple[str, ...], int] = {}
        self.duplicates: list[tuple[tuple[str, ...], int, int]] = []
        self._seen: set[int] = set()
        if root is not None:
            self.at[()] = root.start_mark.line + 1
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[str, ...]) -> None:
        if id(node) in self._seen:  # an alias: its lines are those of the anchor
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if key.tag == _MERGE or not isinstance(key, yaml.ScalarNode):
                    continue
                name, line = str(key.value), key.start_mark.line + 1
                if name in first:
                    self.duplicates.append(((*path, name), first[name], line))
                else:
                    first[name] = line
                self.at[(*path, name)] = line
                self._walk(value, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.at[(*path, str(i))] = item.start_mark.line + 1
                self._walk(item, (*path, str(i)))

    def locate(self, loc: DocPath) -> tuple[str, int | None]:
        """A pydantic location or a rule's path -> (dotted path, line of its nearest node)."""
        parts: list[str] = []
        line = self.at.get(())
        for p in loc:
            if isinstance(p, str) and ("[" in p or p.startswith("function-")):
                continue  # pydantic's own tags: a union member, a dict key, a validator
            parts.append(str(p))
            line = self.at.get(tuple(parts), line)
        return (".".join(parts) or "(document)"), line


def _compose(text: str) -> tuple[Any, _Lines]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, _Lines(node)


def check_register_text(text: str, source: str = "<register>") -> RegisterCheck:
    """Check a register document; every problem is collected, none raised."""
    out = RegisterCheck(source)
    try:
        doc, lines = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "malformed YAML"
        out.problems.append(Problem(source, "(document)", problem,
                                    mark.line + 1 if mark else None))
        return out
    if not isinstance(doc, dict):
        out.problems.append(Problem(source, "(document)", "expected a mapping at the top level",
                                    1))
        return out

    def problem(loc: DocPath, message: str) -> Problem:
        path, line = lines.locate(loc)
        return Problem(source, path, message, line)

    found: list[Problem] = [
        Problem(source, ".".join(path), f"{path[-1]!r} is given twice (first on line {first}); "
                "YAML keeps only the last, so the first is silently lost", line)
        for path, first, line in lines.duplicates
    ]
    try:
        reg = Register.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        found += [problem(e["loc"], e["msg"].removeprefix("Value error, "))
                  for e in errors if e["type"] != RULE_ERROR]
        rules = [problem(path, msg) for path, msg in reference_problems(doc)]
        # The rules on the raw document stand in for the models' own (which stop at the first
        # problem of a purpose and run only on fields that are valid); should they ever find
        # nothing where a model complained, the model's wording is kept.
        found += rules or [problem(e["loc"], e["msg"]) for e in errors
                           if e["type"] == RULE_ERROR]
    else:
        if not found:
            out.register = reg
            out.warnings = [problem(path, msg) for path, msg in register_warnings(reg)]
    seen: set[tuple[str, str]] = set()
    for p in sorted(found, key=lambda p: (p.line or 0, p.path)):
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.problems.append(p)
    return out


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidRegister(f"{path}: no such register file") from None
    except IsADirectoryError:
        raise InvalidRegister(f"{path}: is a directory, not a register file") from None
    except OSError as exc:
        raise InvalidRegister(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_REGISTER_BYTES:
        raise InvalidRegister(f"{path}: larger than {MAX_REGISTER_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRegister(f"{path}: not valid UTF-8 at byte {exc.start}") from None


def read_register_text(path: str | Path) -> str:
    """The text of a register file (size and encoding checked); raises InvalidRegister."""
    return _read(Path(path))


def check_register_file(path: str | Path) -> RegisterCheck:
    """Check a register file. A file that cannot be read raises InvalidRegister."""
    return check_register_text(_read(Path(path)), str(path))


def parse_register(text: str, source: str = "<register>") -> Register:
    """The register of ``text``; raises InvalidRegister naming every problem, one a line."""
    return check_register_text(text, source).raise_if_invalid()


def load_register(path: str | Path) -> Register:
    return check_register_file(path).raise_if_invalid()


__all__ = [
    "MAX_REGISTER_BYTES", "Problem", "RegisterCheck", "check_register_file",
    "check_register_text", "load_register", "parse_register", "read_register_text",
]
