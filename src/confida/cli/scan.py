"""``confida scan`` and ``confida redact``: PII detection and anonymisation of files.

Both read plain text or JSONL (one JSON object a line; ``--field`` names the text field)
from a file or ``-`` (stdin).  Plain text is processed paragraph by paragraph (blocks split
at blank lines), so offsets stay exact and a progress bar can move.  Neither command ever
prints a detected value: ``scan`` reports positions, labels and counts only.

Exit codes: 0 success, 2 bad input or usage (missing file, invalid JSONL line, bad policy).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from confida.errors import BadInput as CoreBadInput
from confida.pii import Policy, anonymize, detect, summarize
from confida.pii.detector import NAME_MODES
from confida.safe_files import OutputDir, check_target, open_output

EXIT_BAD_INPUT = 2
_BLANK = re.compile(r"\n[ \t]*\n")


class BadInput(Exception):
    """Input or usage error; the message says what to fix.  Maps to exit code 2."""


@dataclass
class Record:
    """One unit of text: a JSONL line's field or a paragraph of a plain file."""

    index: int
    line: int
    offset: int
    text: str
    obj: dict[str, Any] | None = None
    sep: str = ""


def _global_json(ctx: typer.Context) -> bool:
    """Whether the main app's global ``--json`` was given (stored in ``ctx.obj``)."""
    obj = ctx.find_root().obj
    if isinstance(obj, dict):
        return bool(obj.get("json"))
    return bool(getattr(obj, "json", False))


def _open(path: str) -> tuple[TextIO, int | None]:
    """The input stream and its size in bytes (None for stdin, which has no known size)."""
    if path == "-":
        return sys.stdin, None
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"no such file: {path}")
    return p.open("r", encoding="utf-8", errors="surrogateescape", newline=""), p.stat().st_size


def _records(stream: TextIO, jsonl: bool, field: str) -> Iterator[tuple[Record, int]]:
    """Records of the input with the number of bytes each one consumed (for progress)."""
    if jsonl:
        for n, line in enumerate(stream, start=1):
            size = len(line.encode("utf-8", "surrogateescape"))
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"line {n}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise BadInput(f"line {n}: expected a JSON object")
            value = obj.get(field)
            if not isinstance(value, str):
                raise BadInput(f"line {n}: no string field {field!r} (choose one with --field)")
            yield Record(n - 1, n, 0, value, obj), size
        return
    # Plain text: paragraphs, keeping the exact separators so redact can rebuild the file.
    buf: list[str] = []
    offset = line_no = 0
    index = 0
    start_line = 1

    def flush(sep: str) -> Record:
        nonlocal index
        rec = Record(index, start_line, offset, "".join(buf), None, sep)
        index += 1
        return rec

    for line in stream:
        line_no += 1
        size = len(line.encode("utf-8", "surrogateescape"))
        if line.strip() == "" and buf:
            rec = flush(line)
            yield rec, size
            offset += len(rec.text) + len(line)
            buf = []
            start_line = line_no + 1
            continue
        if line.strip() == "" and not buf:
            yield Record(index, line_no, offset, "", None, line), size
            index += 1
            offset += len(line)
            start_line = line_no + 1
            continue
        buf.append(line)
        if len(buf) == 1:
            start_line = line_no
    if buf:
        rec = flush("")
        yield rec, 0


def _progress(enabled: bool, total: int | None, label: str) -> Progress:
    """A Rich progress bar on stderr (stdout may carry the data)."""
    console = Console(stderr=True)
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not enabled or total is None,
    )


def _load_policy(path: Path | None) -> Policy:
    """The policy file (YAML or JSON; optionally under a top-level ``policy`` key)."""
    if path is None:
        return Policy()
    if not path.is_file():
        raise BadInput(f"no such policy file: {path}")
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"policy file {path}: not valid YAML/JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("policy"), dict):
        data = data["policy"]
    try:
        return Policy.from_dict(data)
    except ValueError as exc:
        raise BadInput(f"policy file {path}: {exc}") from None


def _is_jsonl(path: str, field: str | None, jsonl: bool) -> bool:
    """JSONL when asked, when a field is named, or when the file name says so."""
    return jsonl or field is not None or path.endswith((".jsonl", ".ndjson"))


def _fail(exc: Exception, as_json: bool) -> typer.Exit:
    """Report a bad-input error the way the caller asked for, and give exit code 2."""
    if as_json:
        typer.echo(json.dumps({"error": str(exc)}))
    else:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


PathArg = Annotated[str, typer.Argument(help="input file, or - for stdin", metavar="FILE|-")]
FieldOpt = Annotated[
    str | None, typer.Option("--field", help="JSONL: the field holding the text (default: text)")
]
JsonlOpt = Annotated[bool, typer.Option("--jsonl", help="read JSONL even without .jsonl name")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
NamesOpt = Annotated[str, typer.Option(
    "--names", help="how names and places are found: model (the trained tagger merged with the "
    "rules, default) or rules (lexicons and cue words only: faster, lower recall)")]


def _names_mode(names: str) -> str:
    """Checked before any input is read (``detect`` would only refuse it on the first text)."""
    if names not in NAME_MODES:
        raise BadInput(f"--names: choose {' or '.join(NAME_MODES)}")
    return names


def scan(
    ctx: typer.Context,
    path: PathArg,
    field: FieldOpt = None,
    jsonl: JsonlOpt = False,
    as_json: JsonOpt = False,
    names: NamesOpt = "model",
) -> None:
    """Find personal data in a text or JSONL file: positions, labels, counts -- never values."""
    as_json = as_json or _global_json(ctx)
    findings_out: list[dict[str, Any]] = []
    records = 0
    counts: Counter[str] = Counter()
    try:
        names = _names_mode(names)
        stream, size = _open(path)
        mode = _is_jsonl(path, field, jsonl)
        with _progress(not as_json, size, "scanning") as bar:
            task = bar.add_task("scan", total=size or 0)
            for rec, nbytes in _records(stream, mode, field or "text"):
                bar.advance(task, nbytes)
                if not rec.text:
                    continue
                records += 1
                found = detect(rec.text, names=names)
                counts.update(summarize(found))
                for f in found:
                    findings_out.append({
                        "record": rec.index, "line": rec.line + rec.text.count("\n", 0, f.start),
                        "start": rec.offset + f.start, "end": rec.offset + f.end,
                        "label": f.label, "score": round(f.score, 2), "kind": f.kind,
                    })
    except BadInput as exc:
        raise _fail(exc, as_json) from None
    summary = dict(sorted(counts.items()))
    if as_json:
        typer.echo(json.dumps({"records": records, "summary": summary, "findings": findings_out}))
        return
    console = Console()
    if not findings_out:
        console.print(f"no personal data found in {records} record(s)")
        return
    table = Table("line", "start", "end", "label", "score")
    for item in findings_out:
        table.add_row(str(item["line"]), str(item["start"]), str(item["end"]), item["label"],
                      f"{item['score']:.2f}")
    console.print(table)
    console.print(f"{len(findings_out)} finding(s) in {records} record(s): "
                  + ", ".join(f"{k} {v}" for k, v in summary.items()), highlight=False)


def redact(
    ctx: typer.Context,
    path: PathArg,
    field: FieldOpt = None,
    jsonl: JsonlOpt = False,
    as_json: JsonOpt = False,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="policy file (YAML/JSON); default: type tags")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="output file (default: stdout); with --engine ray, a directory")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="local (this process) or ray (JSONL/Parquet on a Ray cluster)")] = "local",
    workers: Annotated[int, typer.Option("--workers", help="ray: parallel tasks")] = 2,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="key for keyed operators (hash): hex text or 32+ raw bytes; "
        "the same key gives the same output on every engine")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="overwrite an existing --out file (or replace a --out directory)")] = False,
    names: NamesOpt = "model",
) -> None:
    """Anonymise a text or JSONL file by a policy (default: replace values by type tags)."""
    as_json = as_json or _global_json(ctx)
    counts: Counter[str] = Counter()
    records = 0
    try:
        names = _names_mode(names)
        pol = _load_policy(policy)
        ops = {pol.default.op, *(s.op for s in pol.rules.values())}
        if "tokenize" in ops:
            raise BadInput("the 'tokenize' operator needs the vault's token store; "
                           "it is not available from this command")
        key_hex = os.environ.get("CONFIDA_HASH_KEY", "")
        if key_file is not None:
            key_hex = _read_key_file(key_file)
        hash_key: bytes | None = None
        if engine not in ("local", "ray"):
            raise BadInput("--engine: choose local or ray")
        if engine == "ray":
            _redact_ray(path, out, pol, field, key_hex, workers, as_json, force)
            return
        if "hash" in ops:
            try:
                hash_key = bytes.fromhex(key_hex)
            except ValueError:
                hash_key = None
            if not hash_key or len(hash_key) < 16:
                raise BadInput("the 'hash' operator needs a key: set CONFIDA_HASH_KEY to at least "
                               "32 hex digits")
        if out is not None:
            check_target(out, force=force)
        stream, size = _open(path)
        mode = _is_jsonl(path, field, jsonl)
        chunks: list[str] = []
        with contextlib.ExitStack() as stack:
            # written whole or not at all, never over a file without --force (safe_files)
            target: TextIO = (stack.enter_context(open_output(
                out, force=force, text=True, errors="surrogateescape", newline=""))
                if out else sys.stdout)
            show = not (as_json and out is None)
            with _progress(show, size, "redacting") as bar:
                task = bar.add_task("redact", total=size or 0)
                for rec, nbytes in _records(stream, mode, field or "text"):
                    bar.advance(task, nbytes)
                    result = (anonymize(rec.text, pol, hash_key=hash_key,
                                        findings=detect(rec.text, names=names))
                              if rec.text else None)
                    new_text = result.text if result else rec.text
                    if result:
                        records += 1
                        counts.update(i.label for i in result.items)
                    if rec.obj is not None:
                        obj = dict(rec.obj)
                        obj[field or "text"] = new_text
                        piece = json.dumps(obj, ensure_ascii=False) + "\n"
                    else:
                        piece = new_text + rec.sep
                    if as_json and out is None:
                        chunks.append(piece)
                    else:
                        target.write(piece)
    except (BadInput, CoreBadInput) as exc:
        raise _fail(exc, as_json) from None
    except OSError as exc:
        raise _fail(BadInput(f"cannot write {out}: {exc.strerror}"), as_json) from None
    if as_json:
        report: dict[str, Any] = {"records": records, "replaced": dict(sorted(counts.items())),
                                  "out": str(out) if out else None}
        if out is None:
            report["output"] = "".join(chunks)
        typer.echo(json.dumps(report, ensure_ascii=False))
    elif out is not None:
        Console(stderr=True).print(
            f"wrote {out}: {sum(counts.values())} value(s) replaced in {records} record(s)",
            highlight=False,
        )


def _read_key_file(path: Path) -> str:
    """The key as hex: a file of hex digits, or of raw bytes (e.g. ``head -c 32 /dev/urandom``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"--key-file: cannot read {path}: {exc.strerror}") from None
    text = raw.strip()
    try:
        bytes.fromhex(text.decode("ascii"))
        return text.decode("ascii")
    except (UnicodeDecodeError, ValueError):
        return raw.hex()


def _redact_ray(path: str, out: Path | None, pol: Policy, field: str | None, key_hex: str,
                workers: int, as_json: bool, force: bool = False) -> None:
    """``--engine ray``: the same redaction, over JSONL or Parquet, on a Ray cluster."""
    from confida.export.ray_redact import redact_dataset

    if out is None:
        raise BadInput("--engine ray writes a directory: give --out DIR")
    if path == "-":
        raise BadInput("--engine ray reads files or directories, not stdin")
    hash_key: bytes | None = None
    ops = {pol.default.op, *(s.op for s in pol.rules.values())}
    if "hash" in ops:
        hash_key = bytes.fromhex(key_hex) if key_hex else None
        if not hash_key or len(hash_key) < 16:
            raise BadInput("the 'hash' operator needs a key of at least 16 bytes: "
                           "--key-file or CONFIDA_HASH_KEY")
    try:
        with OutputDir(out, force=force) as tmp:
            report = redact_dataset([path], str(tmp), pol, field=field or "text",
                                    hash_key=hash_key, workers=workers)
        report["out"] = str(out)
    except CoreBadInput as exc:
        raise BadInput(exc.message) from None
    if as_json:
        typer.echo(json.dumps(report))
    else:
        Console(stderr=True).print(f"wrote {report['files']} file(s) to {out}", highlight=False)


def detokenize(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="The host application's subject id.")],
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="Text holding <TOK_...> tokens.")],
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="Why you re-identify.")],
) -> None:
    """Put back the values of one subject's tokens (re-identification: authorised and audited
    for a purpose; an erased person's tokens stay as they are)."""
    from confida.cli.output import console, emit, guard, state
    from confida.token_map import detokenize as detokenize_core

    st = state(ctx)
    with guard(st):
        if source == "-":
            text = sys.stdin.read()
        elif Path(source).is_file():
            text = Path(source).read_text("utf-8")
        else:
            raise CoreBadInput(f"no such file: {source}")
        with st.vault() as v:
            res = detokenize_core(v, subject, text, purpose, actor=st.actor())
    emit(st, {"text": res.texts[0], "restored": res.restored, "opaque": res.opaque},
         lambda: console.print(res.texts[0], end="", highlight=False, markup=False))


def register(app: typer.Typer) -> None:
    """Add ``scan``, ``redact`` and ``detokenize`` as top-level commands of ``app``."""
    app.command("scan")(scan)
    app.command("redact")(redact)
    app.command("detokenize")(detokenize)
