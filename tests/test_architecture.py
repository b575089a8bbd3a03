"""The shape of the code, checked: what a reviewer would otherwise have to remember.

- ``confida``'s import graph has no cycle, counting imports made inside functions too (a late
  import hides a cycle; it does not remove it).
- Adapters (``server``, ``web``, ``cli``) carry no rule: they make no access decision, open no
  operation, run no SQL and use no reflection. A new adapter that does is caught here.
- Every public core function that acts for someone (takes ``actor``) calls
  :func:`confida.authz.authorise` before anything else, inside the operation whose audit entry
  records the decision.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "confida"
ADAPTERS = ("confida.server", "confida.web", "confida.cli")


def is_adapter(mod: str) -> bool:
    return any(mod == a or mod.startswith(a + ".") for a in ADAPTERS)


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        if "migrations" in p.parts:
            continue
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported confida module, line) for every import in the module, nested ones included."""
    tree = ast.parse(path.read_text())
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("confida"):
                    r = _resolve(a.name)
                    if r:
                        yield r, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if not base.startswith("confida"):
                continue
            for a in node.names:
                full = f"{base}.{a.name}"
                r = full if full in MODULES else _resolve(base)
                if r:
                    yield r, node.lineno


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for target, _line in _imports(m, p):
            if target != m:
                g[m].add(target)
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_import_graph_has_no_cycle() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a planted cycle is found."""
    g = _graph()
    g["confida.operation"].add("confida.vault")  # vault imports operation
    assert any({"confida.operation", "confida.vault"} <= set(c) for c in _cycles(g))


def test_vault_holds_no_actor_or_rule() -> None:
    tree = ast.parse((PKG / "vault.py").read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    assert not defined & {"Actor", "Operation", "AuditSink", "NullAuditSink", "SYSTEM"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name) and n.func.id == "authorise"]


# --- adapters carry no rule -----------------------------------------------------------------

#: Imports an adapter may not make: the decision point, the tables, the engine.
FORBIDDEN_IMPORTS = ("confida.authz", "confida.store", "sqlalchemy", "importlib")
#: What an adapter may import anyway: exception types and their wording, to map errors to
#: responses and exit codes; package data (the sample register) for ``confida init``.
ALLOWED_IMPORTS = ("sqlalchemy.exc", "confida.store.engine.describe_db_error",
                   "importlib.resources")
#: Calls that make or record a decision, or reach around the core.
FORBIDDEN_CALLS = ("authorise", "decide", "operation", "read_operation", "transaction",
                   "snapshot", "execute", "connect", "begin")
#: The vault's ways of running a core operation (``read_operation``: one that only reads, its
#: entry through the group commit).
OPERATIONS = ("operation", "read_operation")
#: The vault's stores, which only the core reaches: an adapter that touches them runs SQL or
#: reads keys around the rules.
FORBIDDEN_VAULT_ATTRS = ("engine", "key_engine", "keys")


def _is_vault(expr: ast.expr) -> bool:
    """An expression that names the vault: ``vault``, ``v``, ``self.vault``, ``ctx.vault()``."""
    target = ast.unparse(expr)
    return "vault" in target or target == "v"


def _adapter_files() -> list[tuple[str, Path]]:
    return sorted((m, p) for m, p in MODULES.items() if is_adapter(m))


def adapter_violations(mod: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names]
        bad = [n for n in names
               if n.startswith(FORBIDDEN_IMPORTS) and not n.startswith(ALLOWED_IMPORTS)]
        if bad:
            found.append(f"{mod}:{node.lineno} imports {', '.join(bad)}")
        if isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if called in FORBIDDEN_CALLS:
                found.append(f"{mod}:{node.lineno} calls {called}()")
            if called in ("getattr", "hasattr") and node.args:
                target = ast.unparse(node.args[0])
                if "vault" in target or target in ("v", "mod", "module"):
                    found.append(f"{mod}:{node.lineno} reflects on {target}")
        if (isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_VAULT_ATTRS
                and _is_vault(node.value)):
            found.append(f"{mod}:{node.lineno} reaches {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("mod,path", _adapter_files(), ids=lambda x: str(x).rsplit("/", 1)[-1])
def test_adapter_carries_no_rule(mod: str, path: Path) -> None:
    assert adapter_violations(mod, path) == []


def test_adapter_check_catches_a_decision(tmp_path: Path) -> None:
    """The contract can fail: an adapter that decides, opens an operation or runs SQL."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from confida.authz import authorise\n"
        "from sqlalchemy import select\n"
        "def page(vault, actor):\n"
        "    with vault.operation(op) as (conn, op):\n"
        "        authorise(actor, 'read', register=vault.register, op=op)\n"
        "        conn.execute(select(1))\n"
        "    return getattr(vault, 'objection_check', None)\n"
        "def count(ctx):\n"
        "    with ctx.vault().engine.connect() as conn:\n"
        "        return ctx.vault().keys.has_key('x'), conn\n"
    )
    found = adapter_violations("confida.web.bad", bad)
    assert len(found) == 9, found
    assert any("reaches ctx.vault().engine" in f for f in found), found
    assert any("calls connect()" in f for f in found), found
    assert any("reaches ctx.vault().keys" in f for f in found), found


# --- every public core function authorises first --------------------------------------------

#: Helpers with an ``actor`` parameter that are not entry points: they run inside an operation
#: an entry point opened (and authorised), so they must not open or decide again.
INNER: frozenset[str] = frozenset()

#: Calls allowed before the operation opens: building the operation and its resource.
PREAMBLE_CALLS = frozenset({"Operation", "Resource", "set", "sorted", "len", "frozenset"})


def _is_authorise(stmt: ast.stmt) -> bool:
    value = stmt.value if isinstance(stmt, ast.Expr | ast.Assign | ast.AnnAssign) else None
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name | ast.Attribute)
        and (getattr(value.func, "id", None) or getattr(value.func, "attr", None)) == "authorise"
    )


def _calls(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "?"))
    return out


def _core_functions() -> Iterator[tuple[str, ast.FunctionDef]]:
    for mod, path in sorted(MODULES.items()):
        if is_adapter(mod) or mod in ("confida.authz", "confida.operation"):
            continue
        tree = ast.parse(path.read_text())
        local = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            params = [a.arg for a in (*node.args.args, *node.args.kwonlyargs)]
            if "actor" in params and f"{mod}.{node.name}" not in INNER:
                node.local = local  # type: ignore[attr-defined]  # same-module delegates
                yield f"{mod}.{node.name}", node


def authorises_first(fn: ast.FunctionDef, public: set[str], depth: int = 0) -> str | None:
    """None when ``fn`` decides before anything else; else what it does first.

    Passing the actor on to another entry point, or to a function of the same module that
    itself authorises first, counts as deciding first."""
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    for stmt in body:
        if _is_authorise(stmt):
            return None
        if isinstance(stmt, ast.With):
            head = stmt.items[0].context_expr
            if not (isinstance(head, ast.Call) and isinstance(head.func, ast.Attribute)
                    and head.func.attr in OPERATIONS):
                return f"line {stmt.lineno}: enters something other than an operation"
            inner = stmt.body
            if inner and _is_authorise(inner[0]):
                return None
            return f"line {stmt.lineno}: the operation's first statement is not authorise()"
        call = stmt.value if isinstance(stmt, ast.Return) else None
        if isinstance(call, ast.Subscript | ast.Attribute):
            call = call.value  # delegation that returns part of the result
        if isinstance(call, ast.Call):
            # delegation, passing the actor on
            passes = any(k.arg == "actor" for k in call.keywords)
            f = call.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            local = getattr(fn, "local", {})
            if passes and name in local and depth < 3:
                if authorises_first(local[name], public, depth + 1) is None:
                    return None
            elif passes and name in public:
                return None
            return f"line {stmt.lineno}: returns before deciding"
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and _calls(stmt) <= PREAMBLE_CALLS:
            continue
        return f"line {stmt.lineno}: {type(stmt).__name__} before authorise()"
    return "never calls authorise()"


def test_every_public_core_function_authorises_first() -> None:
    funcs = list(_core_functions())
    assert len(funcs) > 30  # the walk found the core
    public = {name.rsplit(".", 1)[1] for name, _ in funcs}
    bad = {name: why for name, fn in funcs if (why := authorises_first(fn, public))}
    assert bad == {}


def test_authorise_first_check_can_fail() -> None:
    src = (
        "def read(vault, rid, *, actor):\n"
        "    row = load(vault, rid)\n"
        "    with vault.operation(Operation('x', actor)) as (conn, op):\n"
        "        authorise(actor, 'read', register=vault.register, op=op)\n"
    )
    fn = ast.parse(src).body[0]
    assert isinstance(fn, ast.FunctionDef)
    assert authorises_first(fn, set()) is not None
    good = src.replace("    row = load(vault, rid)\n", "")
    fn = ast.parse(good).body[0]
    assert isinstance(fn, ast.FunctionDef)
    assert authorises_first(fn, set()) is None
